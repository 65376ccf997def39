package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"testing"

	"github.com/lantls/lantls/store"
)

// TestLoginSaysWhatFor checks the small things of a first login: the
// login page a device's link leads to says which code it is for; after a
// wrong password the password field, not the user name, has the focus;
// the password rule is stated before it is enforced.
func TestLoginSaysWhatFor(t *testing.T) {
	t.Parallel()
	f := start(t)
	f.addUser(t, "alice", store.RoleOwner)
	b := f.browser(t)
	b.want(b.get("/device?user_code=BCDF-GHJK"), http.StatusOK, "Log in to approve a device", "BCDF-GHJK")
	b.want(b.get("/login"), http.StatusOK, "Log in")
	if regexp.MustCompile(`approve a device`).MatchString(b.last) {
		t.Error("a plain login page speaks of a device")
	}
	b.want(b.post("/login", url.Values{"name": {"alice"}, "password": {"wrong one"}}), http.StatusUnauthorized, "Wrong user name or password")
	if !regexp.MustCompile(`name="password"[^>]*autofocus`).MatchString(b.last) || regexp.MustCompile(`name="name"[^>]*autofocus`).MatchString(b.last) {
		t.Error("after a wrong password the focus is not on the password")
	}
	b.login("alice")
	b.want(b.get("/account"), http.StatusOK, "At least 10 characters")
	b.want(b.post("/account/password", url.Values{"current": {"wrong one"}, "new": {"another good one"}, "new2": {"another good one"}}),
		http.StatusBadRequest, `id="password-error"`)
}

// TestFailedLoginsAudited checks that the owner's audit log shows wrong
// passwords for their user and the lockout that follows them.
func TestFailedLoginsAudited(t *testing.T) {
	t.Parallel()
	f := start(t)
	f.addUser(t, "alice", store.RoleOwner)
	b := f.browser(t)
	b.get("/login")
	for range 10 {
		b.post("/login", url.Values{"name": {"alice"}, "password": {"wrong one"}})
	}
	es, err := f.iss.Store().ListAudit(t.Context(), store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	failed, lockouts := 0, 0
	for _, e := range es {
		switch e.Action {
		case "login-failed":
			failed++
		case "lockout":
			lockouts++
		}
	}
	if failed != 10 || lockouts != 1 {
		t.Errorf("audit log: %d failed logins and %d lockouts, want 10 and 1", failed, lockouts)
	}
}
