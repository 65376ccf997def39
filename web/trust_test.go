package web_test

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"encoding/xml"
	"html"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/lantls/lantls/ca/local"
	"github.com/lantls/lantls/web"
)

// TestTrustPageSaysWhatTheRootPermits: the page shows the root's
// fingerprint as text and QR code, what its name constraints permit and
// exclude word for word, the Linux command with the fingerprint, and the
// three downloads.
func TestTrustPageSaysWhatTheRootPermits(t *testing.T) {
	t.Parallel()
	f := start(t)
	b := f.browser(t)
	block, _ := pem.Decode(f.iss.RootPEM())
	root, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	d := local.Describe(root)
	b.want(b.get("/trust"), http.StatusOK,
		d.Fingerprint, `<img class="qr" src="data:image/png;base64,`,
		"<code>DNS:lan.test</code><br><code>DNS:localhost</code><br><code>IP:127.0.0.1/32</code>", "<code>IP:::/0</code>",
		"sudo lantls trust install --issuer http://127.0.0.1:", "--fingerprint "+strings.ReplaceAll(d.Fingerprint, ":", ""),
		`href="/ca/root.crt"`, `href="/ca/root.pem"`, `href="`+web.MobileConfigPath+`"`,
		"iPhone and iPad", "Android", "Windows", "macOS", "Linux", "not on this issuer")

	resp := b.get(web.MobileConfigPath)
	body := []byte(b.last)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-apple-aspen-config" {
		t.Fatalf("mobileconfig: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	wantMobileConfig(t, body, root)
}

// wantMobileConfig checks that b is a well-formed property list whose one
// payload is root, of type com.apple.security.root.
func wantMobileConfig(t *testing.T, b []byte, root *x509.Certificate) {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(string(b)))
	for {
		_, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("mobileconfig is not well-formed XML: %v\n%s", err, b)
		}
	}
	for _, want := range []string{"<string>com.apple.security.root</string>", "<string>Configuration</string>", "<key>PayloadUUID</key>"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("mobileconfig lacks %s", want)
		}
	}
	m := regexp.MustCompile(`<data>([A-Za-z0-9+/=]+)</data>`).FindSubmatch(b)
	if m == nil {
		t.Fatal("mobileconfig has no <data>")
	}
	der, err := base64.StdEncoding.DecodeString(string(m[1]))
	if err != nil || string(der) != string(root.Raw) {
		t.Error("the mobileconfig's payload is not the root")
	}
	if !strings.Contains(html.UnescapeString(string(b)), "DNS:lan.test") {
		t.Error("the mobileconfig does not say what the root permits")
	}
}
