package badinput

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"
)

func newKeyNoT() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }

// browser is a client with cookies that keeps the CSRF token of the last
// page it read, as a person's browser submits forms.
type browser struct {
	e    *env
	c    *http.Client
	base string // https://localhost:PORT: passkeys need a name
	csrf string
}

func newBrowser(t *testing.T, e *env) *browser {
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(e.base)
	tr := &http.Transport{
		Proxy:           nil,
		TLSClientConfig: &tls.Config{RootCAs: e.roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, u.Host)
		},
	}
	c := &http.Client{Jar: jar, Transport: tr, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &browser{e: e, c: c, base: "https://localhost:" + u.Port()}
}

func (b *browser) do(t *testing.T, req *http.Request) *http.Response {
	t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	return resp
}

// get fetches path and keeps the page's CSRF token; the body stays
// readable.
func (b *browser) get(t *testing.T, path string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", b.base+path, nil)
	resp := b.do(t, req)
	body := readAll(resp.Body)
	resp.Body.Close()
	if m := csrfRE.FindSubmatch(body); m != nil {
		b.csrf = string(m[1])
	}
	resp.Body = readCloser(body)
	return resp
}

func (b *browser) post(t *testing.T, path string, v url.Values, headers ...string) *http.Response {
	t.Helper()
	if v == nil {
		v = url.Values{}
	}
	v.Set("csrf", b.csrf)
	return b.postNoCSRF(t, path, v, headers...)
}

func (b *browser) postNoCSRF(t *testing.T, path string, v url.Values, headers ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", b.base+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	return b.do(t, req)
}

func (b *browser) postJSON(t *testing.T, path, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", b.base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", b.csrf)
	return b.do(t, req)
}

// login logs in as alice.
func (b *browser) login(t *testing.T) {
	t.Helper()
	b.get(t, "/login").Body.Close()
	resp := b.post(t, "/login", url.Values{"name": {"alice"}, "password": {password}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %s", resp.Status)
	}
	b.get(t, "/account").Body.Close() // a page of the logged-in user, for its token
}
