package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/lantls/lantls/store"
)

// postJSON posts body as the passkey script does, with the CSRF header.
func (b *browser) postJSON(path, body string) *http.Response {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", b.csrf)
	return b.do(req)
}

// TestPasskeyNeedsPassword: a session alone cannot add a passkey, which
// would outlive it; the password is asked for, and wrong ones count
// against the login limit.
func TestPasskeyNeedsPassword(t *testing.T) {
	t.Parallel()
	f := start(t)
	f.addUser(t, "alice", store.RoleOwner)
	b := f.browser(t)
	b.login("alice")
	b.get("/account")
	csrf := b.csrf
	b.want(b.postJSON("/account/passkeys/begin", ""), http.StatusBadRequest, "Enter your password")
	b.want(b.postJSON("/account/passkeys/begin", `{}`), http.StatusBadRequest, "Enter your password")
	b.want(b.postJSON("/account/passkeys/begin", `{"password":"not her password"}`), http.StatusForbidden, "not right")
	b.csrf = csrf
	b.want(b.postJSON("/account/passkeys/begin", `{"password":"`+testPassword+`"}`), http.StatusOK, `"challenge"`)
	for range 9 {
		b.postJSON("/account/passkeys/begin", `{"password":"not her password"}`)
	}
	b.want(b.postJSON("/account/passkeys/begin", `{"password":"`+testPassword+`"}`), http.StatusTooManyRequests, "Too many failed logins")
}

// TestPasswordChangeLimited: the current password on the account page is
// checked under the same per-user limit as a login.
func TestPasswordChangeLimited(t *testing.T) {
	t.Parallel()
	f := start(t)
	f.addUser(t, "alice", store.RoleOwner)
	b := f.browser(t)
	b.login("alice")
	b.get("/account")
	form := func(current string) url.Values {
		return url.Values{"current": {current}, "new": {"a brand new password"}, "new2": {"a brand new password"}}
	}
	for i := range 10 {
		resp := b.post("/account/password", form("wrong password"))
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(b.last, "not right") {
			t.Fatalf("wrong password %d: %s %s", i+1, resp.Status, excerpt(b.last))
		}
	}
	b.want(b.post("/account/password", form(testPassword)), http.StatusBadRequest, "Too many failed logins")
}
