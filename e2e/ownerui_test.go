package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// ownerUI is a logged-in owner of the issuer's web UI, driven through its
// real forms (CSRF tokens included) with a plain HTTP client.
type ownerUI struct {
	iss    *issuer
	client *http.Client
}

var (
	csrfField  = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	deviceLink = regexp.MustCompile(`href="/devices/([0-9a-z]{20,})"`)
)

// loginOwner adds the web user name (an owner) with `lantls admin user
// add` and logs in through the login form.
func loginOwner(t *testing.T, iss *issuer, name string) *ownerUI {
	t.Helper()
	pwFile := filepath.Join(t.TempDir(), "pw")
	password := "correct horse battery staple " + name
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := iss.admin(t, "user", "add", name, "--password-file", pwFile); r.code != 0 {
		t.Fatalf("user add:\n%s", r)
	}
	roots := x509.NewCertPool()
	pem, _ := os.ReadFile(iss.Root)
	roots.AppendCertsFromPEM(pem)
	jar, _ := cookiejar.New(nil)
	ui := &ownerUI{iss: iss, client: &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}}
	page := ui.get(t, "/login")
	ui.post(t, "/login", page, url.Values{"name": {name}, "password": {password}, "next": {"/"}})
	if body := ui.get(t, "/"); strings.Contains(body, `name="password"`) {
		t.Fatalf("login as %s did not stick: the device list shows the login form", name)
	}
	return ui
}

// approve enters code on /device and presses Approve.
func (ui *ownerUI) approve(t *testing.T, code string) {
	t.Helper()
	// verification_uri_complete prefills the code; the owner submits it
	// and sees the device before approving.
	page := ui.get(t, "/device?user_code="+url.QueryEscape(code))
	page = ui.post(t, "/device", page, url.Values{"user_code": {code}})
	if !strings.Contains(page, `action="/device/approve"`) {
		t.Fatalf("code %s shows no Approve form:\n%s", code, tail(page, 40))
	}
	ui.post(t, "/device/approve", page, url.Values{"user_code": {code}})
}

// grant sets the device's allowed origins on its page.
func (ui *ownerUI) grant(t *testing.T, origins ...string) {
	t.Helper()
	m := deviceLink.FindStringSubmatch(ui.get(t, "/"))
	if m == nil {
		t.Fatal("the device list links no device page")
	}
	page := ui.get(t, "/devices/"+m[1])
	ui.post(t, "/devices/"+m[1]+"/grants", page, url.Values{"origins": {strings.Join(origins, "\n")}})
}

func (ui *ownerUI) get(t *testing.T, path string) string {
	t.Helper()
	resp, err := ui.client.Get(ui.iss.BaseURL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", path, resp.Status, tail(string(b), 20))
	}
	return string(b)
}

// post submits a form on page (whose CSRF token it takes) to path and
// returns the page the UI answers (after its 303, if any).
func (ui *ownerUI) post(t *testing.T, path, page string, form url.Values) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the page before POST %s", path)
	}
	form.Set("csrf", html.UnescapeString(m[1]))
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, ui.iss.BaseURL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", ui.iss.BaseURL)
	resp, err := ui.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s\n%s", path, resp.Status, tail(string(b), 20))
	}
	if strings.Contains(string(b), `role="alert"`) {
		t.Fatalf("POST %s shows an error:\n%s", path, tail(string(b), 30))
	}
	return string(b)
}
