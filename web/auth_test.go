package web_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lantls/lantls/store"
	"github.com/lantls/lantls/users"
)

func TestSetup(t *testing.T) {
	t.Parallel()
	f := start(t)
	setup := f.iss.SetupURL()
	if setup == "" {
		t.Fatal("a fresh issuer has no setup URL")
	}
	token := setup[strings.Index(setup, "token=")+len("token="):]
	b := f.browser(t)
	b.want(b.get("/login"), http.StatusOK, "setup link")

	b.want(b.get("/setup?token="+token), http.StatusOK, "Create account")
	resp := b.post("/setup", url.Values{"token": {"wrong"}, "name": {"root"}, "password": {testPassword}, "password2": {testPassword}})
	b.want(resp, http.StatusForbidden, "setup token is wrong")
	b.get("/setup?token=" + token)
	resp = b.post("/setup", url.Values{"token": {token}, "name": {"root"}, "password": {"short"}, "password2": {"short"}})
	b.want(resp, http.StatusBadRequest, "at least 10 characters")
	resp = b.post("/setup", url.Values{"token": {token}, "name": {"root"}, "password": {testPassword}, "password2": {testPassword}})
	b.want(resp, http.StatusOK, "Your account is ready", "Log out", "admin")

	u, err := f.iss.Store().GetUserByName(t.Context(), "root")
	if err != nil || u.Role != store.RoleAdmin {
		t.Fatalf("user made by setup = %+v, %v; want an admin", u, err)
	}
	// The page closes once a user exists.
	other := f.browser(t)
	other.want(other.get("/setup?token="+token), http.StatusNotFound, "set up already")
}

func TestLogin(t *testing.T) {
	t.Parallel()
	f := start(t)
	f.addUser(t, "alice", store.RoleOwner)
	b := f.browser(t)
	// A page that needs a login sends the visitor to it, and back after.
	resp := b.get("/audit")
	b.want(resp, http.StatusOK, "Log in")
	if resp.Request.URL.Path != "/login" || resp.Request.URL.Query().Get("next") != "/audit" {
		t.Errorf("visitor to /audit landed on %s, want /login?next=/audit", resp.Request.URL)
	}
	resp = b.post("/login", url.Values{"name": {"alice"}, "password": {"not her password"}, "next": {"/audit"}})
	b.want(resp, http.StatusUnauthorized, "Wrong user name or password")
	resp = b.post("/login", url.Values{"name": {"alice"}, "password": {testPassword}, "next": {"/audit"}})
	b.want(resp, http.StatusOK, "Audit log", "login")
	if resp.Request.URL.Path != "/audit" {
		t.Errorf("after login landed on %s, want /audit", resp.Request.URL.Path)
	}
	// An open redirect is not possible.
	for _, next := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example", "/\t/evil.example", "/\n/evil.example", " //evil.example"} {
		c := f.browser(t)
		c.get("/login")
		resp := c.post("/login", url.Values{"name": {"alice"}, "password": {testPassword}, "next": {next}})
		if resp.Request.URL.Host != strings.TrimPrefix(f.base, "https://") || resp.Request.URL.Path != "/" {
			t.Errorf("login with next=%q landed on %s, want / on the issuer", next, resp.Request.URL)
		}
	}
	b.want(b.post("/logout", nil), http.StatusOK, "Log in")
	resp = b.get("/")
	if resp.Request.URL.Path != "/login" {
		t.Errorf("after logout / landed on %s, want /login", resp.Request.URL.Path)
	}
}

func TestLoginThrottle(t *testing.T) {
	t.Parallel()
	f := start(t)
	f.addUser(t, "alice", store.RoleOwner)
	b := f.browser(t)
	b.get("/login")
	// The per-user limit allows 10 failures an hour.
	for i := range 10 {
		resp := b.post("/login", url.Values{"name": {"alice"}, "password": {"wrong password"}})
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(b.last, "Wrong user name") {
			t.Fatalf("failure %d: %s", i+1, resp.Status)
		}
	}
	// Now even the right password is refused, from any source, and says
	// when to retry.
	resp := b.post("/login", url.Values{"name": {"alice"}, "password": {testPassword}})
	b.want(resp, http.StatusUnauthorized, "Too many failed logins. Try again in")
	c := f.browser(t)
	c.get("/login")
	c.want(c.post("/login", url.Values{"name": {"alice"}, "password": {testPassword}}), http.StatusUnauthorized, "Too many failed logins")
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	f := start(t)
	f.addUser(t, "alice", store.RoleOwner)
	b := f.browser(t)
	b.login("alice")
	for _, tc := range []struct {
		name   string
		token  string
		header map[string]string
	}{
		{"no token", "-", nil},
		{"another session's token", "", nil},
		{"cross-site", b.csrf, map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"other origin", b.csrf, map[string]string{"Origin": "https://evil.example"}},
		{"same site, other origin", b.csrf, map[string]string{"Sec-Fetch-Site": "same-site"}},
		{"opaque origin", b.csrf, map[string]string{"Origin": "null"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			token := tc.token
			if token == "" {
				other := f.browser(t)
				other.login("alice")
				token = other.csrf
			}
			form := url.Values{"name": {"Evil"}, "csrf": {token}}
			if token == "-" {
				form.Del("csrf")
			}
			req, _ := http.NewRequest("POST", b.base+"/devices/new", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp := b.do(req)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("status %s, want 403", resp.Status)
			}
		})
	}
	ds, _ := f.iss.Store().ListDevices(t.Context(), store.DeviceFilter{})
	if len(ds) != 0 {
		t.Errorf("forged forms made %d devices", len(ds))
	}
}

func TestHeaders(t *testing.T) {
	t.Parallel()
	f := start(t)
	f.addUser(t, "alice", store.RoleOwner)
	b := f.browser(t)
	resp := b.get("/login")
	h := resp.Header
	for k, want := range map[string]string{
		"Referrer-Policy":        "no-referrer",
		"X-Content-Type-Options": "nosniff",
		"Cache-Control":          "no-store",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"frame-ancestors 'none'", "script-src 'self'", "default-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(b.last, "<script>") || strings.Contains(b.last, " style=") {
		t.Error("the page or its CSP allows inline script or style")
	}
	b.get("/login")
	resp = b.post("/login", url.Values{"name": {"alice"}, "password": {testPassword}})
	var session *http.Cookie
	for r := resp; r != nil; r = r.Request.Response {
		for _, c := range r.Cookies() {
			if strings.HasSuffix(c.Name, "session") {
				session = c
			}
		}
	}
	if session == nil {
		t.Fatal("login set no session cookie")
	}
	if session.Name != "__Host-lantls-session" || !session.Secure || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Path != "/" || session.Domain != "" {
		t.Errorf("session cookie = %+v, want __Host- prefixed, Secure, HttpOnly, SameSite=Lax, Path=/, no Domain", session)
	}
}

// TestLoginBurst: concurrent wrong passwords for one user check no more
// passwords than the per-user limit allows (10 an hour): each attempt
// takes its place in the limit before the password is hashed.
func TestLoginBurst(t *testing.T) {
	t.Parallel()
	f := start(t)
	f.addUser(t, "alice", store.RoleOwner)
	const n = 40
	var wrong, limited atomic.Int32
	var wg sync.WaitGroup
	for range n {
		b := f.browser(t)
		b.get("/login")
		wg.Go(func() {
			form := url.Values{"name": {"alice"}, "password": {"wrong password"}, "csrf": {b.csrf}}
			req, _ := http.NewRequest("POST", b.base+"/login", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := b.c.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case strings.Contains(string(body), "Wrong user name or password"):
				wrong.Add(1)
			case strings.Contains(string(body), "Too many failed logins"):
				limited.Add(1)
			default:
				t.Errorf("answer %s: %s", resp.Status, excerpt(string(body)))
			}
		})
	}
	wg.Wait()
	if wrong.Load() != 10 || limited.Load() != n-10 {
		t.Errorf("%d concurrent wrong passwords: %d checked, %d refused by the limit; want 10 checked", n, wrong.Load(), limited.Load())
	}
}

// TestLoginRefundsSuccess: a right password does not count against the
// failure limits, so an owner who logs in often is never locked out.
func TestLoginRefundsSuccess(t *testing.T) {
	t.Parallel()
	f := start(t)
	f.addUser(t, "alice", store.RoleOwner)
	for range 12 {
		b := f.browser(t)
		b.login("alice")
	}
}

// TestLoginEndsOldSession: logging in again ends the session the browser
// had, so a session planted in or stolen from it does not live on.
func TestLoginEndsOldSession(t *testing.T) {
	t.Parallel()
	f := start(t)
	f.addUser(t, "alice", store.RoleOwner)
	b := f.browser(t)
	b.login("alice")
	u, _ := url.Parse(b.base)
	old := b.c.Jar.Cookies(u)
	b.get("/login")
	b.want(b.post("/login", url.Values{"name": {"alice"}, "password": {testPassword}}), http.StatusOK, "Log out")
	c := f.browser(t)
	c.c.Jar.SetCookies(u, old)
	if resp := c.get("/audit"); resp.Request.URL.Path != "/login" {
		t.Errorf("the session from before the second login still works: landed on %s", resp.Request.URL.Path)
	}
}

// TestDisabledUser: disabling a user ends its sessions and its logins.
func TestDisabledUser(t *testing.T) {
	t.Parallel()
	f := start(t)
	f.addUser(t, "alice", store.RoleOwner)
	b := f.browser(t)
	b.login("alice")
	if _, err := users.SetDisabled(t.Context(), f.iss.Store(), "alice", true); err != nil {
		t.Fatal(err)
	}
	if resp := b.get("/audit"); resp.Request.URL.Path != "/login" {
		t.Errorf("a disabled user's session still works: landed on %s", resp.Request.URL.Path)
	}
	b.want(b.post("/login", url.Values{"name": {"alice"}, "password": {testPassword}}), http.StatusUnauthorized, "Wrong user name or password")
}
