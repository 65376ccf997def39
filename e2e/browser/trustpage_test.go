package browser

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/lantls/lantls/internal/browsertest"
)

// TestTrustPage opens the issuer's /trust page as a visitor: it shows the
// fingerprint and its QR code (an image that loads under the page's CSP),
// what the root permits and excludes, the three downloads, and passes
// axe-core.
func TestTrustPage(t *testing.T) {
	t.Parallel()
	browsertest.RequireAxe(t)
	l := local(t)
	tab := l.browser.NewTab(t)
	do(t, tab, chromedp.Navigate(l.iss.Info().BaseURL+"/trust"))
	text, err := chromedp.Run(tab, chromedp.Text(`main`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"SHA-256 fingerprint", "What this root can vouch for", "DNS:" + zone, "IP:::/0",
		"lantls trust install --issuer http://127.0.0.1:", "iPhone and iPad", "Android", "Windows"} {
		if !strings.Contains(text, want) {
			t.Errorf("the trust page does not say %q", want)
		}
	}
	qr, err := chromedp.Run(tab, chromedp.Evaluate[int](`document.querySelector("img.qr").naturalWidth`))
	if err != nil || qr == 0 {
		t.Errorf("the QR code does not load: width %d, %v", qr, err)
	}
	n, err := chromedp.Run(tab, chromedp.Nodes(`a[href$=".mobileconfig"], a[href="/ca/root.crt"], a[href="/ca/root.pem"]`, chromedp.AtLeast(3)))
	if err != nil || len(n) != 3 {
		t.Errorf("the trust page has %d of the 3 downloads: %v", len(n), err)
	}
	screenshot(t, tab, "trust")
	browsertest.CheckAccessible(t, tab, "trust page")
}
