package web_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lantls/lantls/internal/browsertest"
	"github.com/lantls/lantls/store"
)

// TestIsolatedLANScreenshots walks the owner's steps of docs/isolated-lan.md
// in headless Chromium, each page checked by axe-core: the trust page,
// giving a device a
// short name, the page that links it, and the warning when the device
// reports that its router filters its names, on its page and in the list.
// With LANTLS_SCREENSHOTS=1 it writes the screenshots to docs/screenshots.
func TestIsolatedLANScreenshots(t *testing.T) {
	t.Parallel()
	browsertest.RequireAxe(t)
	f := start(t)
	f.addUser(t, "alice", store.RoleOwner)
	dir := t.TempDir()
	if os.Getenv("LANTLS_SCREENSHOTS") != "" {
		dir = filepath.Join("..", "docs", "screenshots")
	}
	ctx := f.chromium(t, 1100, 760)
	shot := func(name string) {
		t.Helper()
		browsertest.CheckAccessible(t, ctx, name)
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	b := f.browser(t)
	b.login("alice")
	tv := newDevice(t, f)
	tv.start()
	approveInBrowser(t, b, tv, "approve")
	tv.collectAndIssue()
	st := f.iss.Store()
	dev, err := st.GetDeviceByLabel(t.Context(), tv.label())
	if err != nil {
		t.Fatal(err)
	}
	dev.Name = "Living room TV"
	if err := st.UpdateDevice(t.Context(), dev); err != nil {
		t.Fatal(err)
	}
	if err := st.SetDeviceAddresses(t.Context(), dev.ID, []netip.Addr{netip.MustParseAddr("192.168.1.20")}); err != nil {
		t.Fatal(err)
	}

	loginInChromium(t, ctx, f, "alice")
	do(t, ctx, chromedp.Navigate(f.base+"/trust"))
	waitText(t, ctx, "Trust this issuer")
	shot("hub-trust.png")
	page := f.base + "/devices/" + dev.ID
	do(t, ctx, chromedp.Navigate(page), chromedp.WaitVisible(`input[name="short"]`),
		chromedp.SendKeys(`input[name="short"]`, "tv"))
	shot("short-name.png")
	do(t, ctx, chromedp.Submit(`input[name="short"]`))
	waitText(t, ctx, "The short name is saved")
	waitText(t, ctx, "https://tv.lan.test/")
	shot("short-name-saved.png")

	check := store.NameCheck{Result: store.NameCheckFiltered, Name: "192-168-1-20." + dev.Label + ".lan.test",
		Detail: "the resolver 192.168.1.1:53 answered with no address", At: time.Now()}
	if err := st.SetDeviceNameCheck(t.Context(), dev.ID, check); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, chromedp.Navigate(page))
	waitText(t, ctx, "Your router filters these names")
	shot("name-filter.png")
	do(t, ctx, chromedp.Navigate(f.base+"/"))
	waitText(t, ctx, "Your router filters these names")
	shot("name-filter-list.png")
}
