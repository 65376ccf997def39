package browser

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lantls/lantls/agent"
	"github.com/lantls/lantls/internal/browsertest"
)

// TestOwnerApprovesFromOnboardingPage walks the owner's path in Chromium:
// the device's plain-HTTP onboarding page shows its code and a "Secure
// this device" link to the issuer; the owner follows it, logs in to the
// owner UI, continues with the code filled in, checks and approves the
// device; the device gets its certificate, the onboarding page now sends
// the browser to the device's https:// address, and the device list links
// to the device, which opens as a secure context. The approval page shows
// the key fingerprint the onboarding page does; axe-core checks each page
// of the owner's path.
//
// The agent reports the port it serves HTTPS on, and the owner UI's links
// to its address-names carry it.
func TestOwnerApprovesFromOnboardingPage(t *testing.T) {
	t.Parallel()
	browsertest.RequireAxe(t)
	l := local(t)
	codes := make(chan string, 4)
	onboard := make(chan string, 1)
	d, err := l.startDevice(deviceOptions{
		Model:     "Porch camera",
		App:       deviceApp("Porch camera"),
		OnPairing: func(p agent.Pairing) { codes <- p.UserCode },
		Onboard:   func(addr string) { onboard <- addr },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.close)
	onboardURL := "http://" + <-onboard + "/"
	var code string
	select {
	case code = <-codes:
	case <-time.After(pairTimeout):
		t.Fatal("the agent showed no code")
	}
	_, port, _ := net.SplitHostPort(d.addr)
	b, err := browsertest.Launch(filepath.Join(t.TempDir(), "chromium"), browsertest.Options{
		RootPEM:           l.rootPEM,
		HostResolverRules: "MAP *." + zone + " 127.0.0.1",
		Width:             1000, Height: 760,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	tab := b.NewTab(t)

	// The onboarding page, as the device shows it, with the key
	// fingerprint the approval page must show too.
	do(t, tab, chromedp.Navigate(onboardURL))
	waitText(t, tab, code)
	screenshot(t, tab, "onboarding")
	browsertest.CheckAccessible(t, tab, "onboarding page")
	shown, err := chromedp.Run(tab, chromedp.Text(`dd code`))
	if err != nil || strings.TrimSpace(shown) == "" {
		t.Fatalf("the onboarding page shows no key fingerprint: %q, %v", shown, err)
	}

	// Follow its link to the issuer, log in, continue with the code. The
	// page moves on by itself once the device is approved, so the test
	// reads the link and goes there rather than racing that with a click.
	href, err := chromedp.Run(tab, chromedp.AttributeValue(`a[href*="/device"]`, "href"))
	if err != nil || !href.Exists {
		t.Fatalf("the onboarding page has no link to the issuer: %+v, %v", href, err)
	}
	do(t, tab, chromedp.Navigate(href.Value))
	do(t, tab, chromedp.WaitVisible(`input[name="password"]`))
	browsertest.CheckAccessible(t, tab, "login for a code")
	approveInUI(t, tab, code, "Porch camera", "approve-device", strings.TrimSpace(shown))

	ctx, cancel := context.WithTimeout(t.Context(), pairTimeout)
	defer cancel()
	if err := l.waitReady(ctx, d); err != nil {
		t.Fatal(err)
	}
	label := d.label

	// The onboarding page now sends the browser to the device over HTTPS.
	do(t, tab, chromedp.Navigate(onboardURL))
	waitSecurePage(t, tab, d.origin, "Porch camera")

	// The device list links to the device; the link opens it.
	link := `a.open[href="https://127-0-0-1.` + label + `.` + zone + `:` + port + `/"]`
	waitFor(t, pairTimeout, "the device list to link to the device", func() bool {
		ctx, cancel := context.WithTimeout(tab, 10*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, chromedp.Navigate(l.iss.Info().BaseURL+"/")); err != nil {
			return false
		}
		n, err := chromedp.Run(ctx, chromedp.Nodes(link, chromedp.AtLeast(0)))
		return err == nil && len(n) > 0
	})
	screenshot(t, tab, "devices-with-link")
	do(t, tab, chromedp.Click(link))
	waitSecurePage(t, tab, "https://127-0-0-1."+label+"."+zone+":"+port, "Porch camera")
}

// approveInUI logs in as the owner on the login page tab shows (the
// owner UI's answer to /device?user_code=code), continues with the code
// filled in, checks that the device is model and approves it. A
// screenshot of the approval page is saved as shot unless it is "".
//
// A fingerprint other than "" must be the one the approval page shows;
// then axe-core checks the code entry and approval pages too.
func approveInUI(t *testing.T, tab context.Context, code, model, shot, fingerprint string) {
	t.Helper()
	do(t, tab, chromedp.WaitVisible(`input[name="password"]`))
	do(t, tab,
		chromedp.SendKeys(`input[name="name"]`, ownerName),
		chromedp.SendKeys(`input[name="password"]`, ownerPassword),
		chromedp.Submit(`input[name="password"]`),
	)
	waitText(t, tab, "Pair a device")
	if v, err := chromedp.Run(tab, chromedp.Value(`input[name="user_code"]`)); err != nil || v != code {
		t.Errorf("code entry filled in with %q (%v), want %s", v, err, code)
	}
	if fingerprint != "" {
		browsertest.CheckAccessible(t, tab, "code entry")
	}
	do(t, tab, chromedp.Click(`form[action="/device"] button`))
	waitText(t, tab, "Approve this device?")
	waitText(t, tab, model)
	if fingerprint != "" {
		browsertest.CheckAccessible(t, tab, "approval")
		if got, err := chromedp.Run(tab, chromedp.Text(`code.label`)); err != nil || strings.TrimSpace(got) != fingerprint {
			t.Errorf("the approval page shows fingerprint %q (%v); the device shows %q", got, err, fingerprint)
		}
	}
	if shot != "" {
		screenshot(t, tab, shot)
	}
	do(t, tab, chromedp.Click(`form[action="/device/approve"] button`))
	waitText(t, tab, "The device is approved")
}

// waitSecurePage waits for tab to show the device page titled title at
// origin and checks that it is a secure context.
func waitSecurePage(t *testing.T, tab context.Context, origin, title string) {
	t.Helper()
	waitText(t, tab, "Secure context")
	st := eval[pageState](t, tab, pageStateJS)
	if want := (pageState{Secure: true, Subtle: true, Origin: origin, Title: title}); st != want {
		t.Errorf("device page %+v, want %+v", st, want)
	}
}

// do runs steps in tab, failing the test on an error.
func do(t *testing.T, tab context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// waitText waits until the page's text contains want.
func waitText(t *testing.T, tab context.Context, want string) {
	t.Helper()
	var text string
	waitFor(t, 30*time.Second, "the page to show "+want, func() bool {
		ctx, cancel := context.WithTimeout(tab, 5*time.Second)
		defer cancel()
		var err error
		text, err = chromedp.Run(ctx, chromedp.Text("body"))
		return err == nil && strings.Contains(text, want)
	})
}
