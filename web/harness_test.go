package web_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lantls/lantls/issuer"
	"github.com/lantls/lantls/issuer/issuertest"
	"github.com/lantls/lantls/store"
	"github.com/lantls/lantls/users"
)

// testPassword is every test user's password.
const testPassword = "correct horse battery"

// fixture is a real issuer with its UI.
type fixture struct {
	iss   *issuer.Issuer
	roots *x509.CertPool
	// base is the UI's address by name (https://localhost:PORT), where
	// passkeys work; ip is the same by 127.0.0.1.
	base, ip string
}

func start(t *testing.T) *fixture {
	t.Helper()
	iss, roots := issuertest.Start(t, issuer.Config{Hostnames: []string{"localhost"}})
	u, _ := url.Parse(iss.Info().BaseURL)
	return &fixture{iss: iss, roots: roots, base: "https://localhost:" + u.Port(), ip: iss.Info().BaseURL}
}

// addUser adds a user (and its owner) straight to the store.
func (f *fixture) addUser(t *testing.T, name string, role store.Role) *store.User {
	t.Helper()
	u, err := users.Add(t.Context(), f.iss.Store(), name, role, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// browser is an HTTP client with cookies that fills in the CSRF token of
// the last page it read, as a person's browser would submit a form.
type browser struct {
	t    *testing.T
	c    *http.Client
	base string
	csrf string
	last string // body of the last page
}

func (f *fixture) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: f.roots},
		// localhost is the issuer's name: dial it on IPv4, where it listens.
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if host, port, err := net.SplitHostPort(addr); err == nil && host == "localhost" {
				addr = net.JoinHostPort("127.0.0.1", port)
			}
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
	return &browser{t: t, base: f.base, c: &http.Client{Jar: jar, Transport: tr, Timeout: 20 * time.Second}}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) do(req *http.Request) *http.Response {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	b.last = string(body)
	if m := csrfRE.FindStringSubmatch(b.last); m != nil {
		b.csrf = m[1]
	}
	return resp
}

// get fetches path and returns the response; the body is in b.last.
func (b *browser) get(path string) *http.Response {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.base+path, nil)
	return b.do(req)
}

// post submits a form with the CSRF token of the last page.
func (b *browser) post(path string, form url.Values) *http.Response {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if form.Get("csrf") == "" {
		form.Set("csrf", b.csrf)
	}
	req, _ := http.NewRequest("POST", b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// login logs in as name through the login form.
func (b *browser) login(name string) {
	b.t.Helper()
	b.get("/login")
	resp := b.post("/login", url.Values{"name": {name}, "password": {testPassword}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(b.last, "Log out") {
		b.t.Fatalf("login as %s: %s\n%s", name, resp.Status, b.last)
	}
}

// want fails unless resp has status and the last body contains each of
// the substrings.
func (b *browser) want(resp *http.Response, status int, substrings ...string) {
	b.t.Helper()
	if resp.StatusCode != status {
		b.t.Errorf("%s %s: status %s, want %d\n%s", resp.Request.Method, resp.Request.URL.Path, resp.Status, status, excerpt(b.last))
	}
	for _, s := range substrings {
		if !strings.Contains(b.last, s) {
			b.t.Errorf("%s %s: page lacks %q\n%s", resp.Request.Method, resp.Request.URL.Path, s, excerpt(b.last))
		}
	}
}

func excerpt(s string) string {
	if i := strings.Index(s, "<main"); i >= 0 {
		s = s[i:]
	}
	if len(s) > 1500 {
		s = s[:1500] + "…"
	}
	return s
}
