package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/pem"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lantls/lantls/ca/local"
	"github.com/lantls/lantls/internal/browsertest"
	"github.com/lantls/lantls/internal/testwait"
)

// TestFirstRun walks a new owner's first minutes as `lantls issuer`
// prints them: one address for the web UI, which the setup link shares;
// the root fetched over plain HTTP from the printed URL and checked
// against the printed fingerprint; then, in a Chromium that trusts only
// that root, the setup link opens with no certificate warning, makes the
// first account and lands on the (empty) device list. axe-core checks
// each page.
func TestFirstRun(t *testing.T) {
	t.Parallel()
	browsertest.Require(t)
	browsertest.RequireAxe(t)
	iss := startIssuer(t)
	// The ready block comes first; the rest of the text follows it.
	var out string
	testwait.Until(10*time.Second, func() bool { out = iss.stdout.String(); return strings.Contains(out, "user add NAME") })

	ui := regexp.MustCompile(`(?m)^\s+web UI\s+(\S+)$`).FindStringSubmatch(out)
	setup := regexp.MustCompile(`(?m)^\s+(https://\S+/setup\?token=\S+)$`).FindStringSubmatch(out)
	rootURL := regexp.MustCompile(`(?m)^\s+(http://\S+/ca/root\.crt)$`).FindStringSubmatch(out)
	fp := regexp.MustCompile(`(?m)^\s+SHA-256 ([0-9A-F:]{95})$`).FindStringSubmatch(out)
	if ui == nil || setup == nil || rootURL == nil || fp == nil {
		t.Fatalf("the start-up text lacks the UI address, setup link, root URL or fingerprint:\n%s", out)
	}
	if !strings.HasPrefix(setup[1], ui[1]) || ui[1] != iss.BaseURL+"/" {
		t.Errorf("web UI %s, setup link %s: want both at the listen address %s", ui[1], setup[1], iss.BaseURL)
	}

	// The root, over plain HTTP, as a person fetches it before trusting
	// anything, checked by the printed fingerprint.
	resp, err := http.Get(rootURL[1])
	if err != nil {
		t.Fatal(err)
	}
	der, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, %v", rootURL[1], resp.Status, err)
	}
	sum := sha256.Sum256(der)
	if got := local.Fingerprint(sum[:]); got != fp[1] {
		t.Fatalf("the root at %s has fingerprint %s; the issuer printed %s", rootURL[1], got, fp[1])
	}

	ctx := browsertest.Start(t, browsertest.Options{
		RootPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		Width:   1000, Height: 760,
	})
	run := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatal(err)
		}
	}
	run(chromedp.Navigate(setup[1]), chromedp.WaitVisible(`input[name="name"]`))
	waitPage(t, ctx, "Create the first account")
	browsertest.CheckAccessible(t, ctx, "setup")
	run(
		chromedp.SendKeys(`input[name="name"]`, "owner"),
		chromedp.SendKeys(`input[name="password"]`, "correct horse battery"),
		chromedp.SendKeys(`input[name="password2"]`, "correct horse battery"),
		chromedp.Submit(`input[name="password2"]`),
	)
	waitPage(t, ctx, "Your account is ready")
	waitPage(t, ctx, "No devices yet")
	browsertest.CheckAccessible(t, ctx, "devices (empty)")
	run(chromedp.Navigate(ui[1] + "trust"))
	waitPage(t, ctx, fp[1])
	browsertest.CheckAccessible(t, ctx, "trust")
}

// waitPage waits until ctx's page text contains want.
func waitPage(t *testing.T, ctx context.Context, want string) {
	t.Helper()
	var text string
	if !testwait.Until(20*time.Second, func() bool {
		var err error
		text, err = chromedp.Run(ctx, chromedp.Text("body"))
		return err == nil && strings.Contains(text, want)
	}) {
		t.Fatalf("page never showed %q; it shows:\n%s", want, text)
	}
}
