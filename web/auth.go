package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/ratelimit"
	"github.com/lantls/lantls/store"
	"github.com/lantls/lantls/users"
)

type loginPage struct {
	Name  string
	Next  string
	Error string
	Setup bool // no user exists yet: point at the setup URL
}

func (s *Server) serveLogin(w http.ResponseWriter, r *http.Request) {
	v, err := s.viewerOf(w, r)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	next := safeNext(r.URL.Query().Get("next"))
	if v.user != nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	s.render(w, r, v, http.StatusOK, "login", "Log in", &loginPage{Next: next, Setup: s.needsSetup(r)})
}

func (s *Server) postLogin(w http.ResponseWriter, r *http.Request, v *viewer) error {
	f := parseLoginForm(r.PostForm)
	page := &loginPage{Name: f.Name, Next: f.Next}
	fail := func(msg string) error {
		page.Error = msg
		s.render(w, r, v, http.StatusUnauthorized, "login", "Log in", page)
		return nil
	}
	if f.Name == "" || f.Password == "" {
		return fail("Enter your user name and password.")
	}
	ctx := r.Context()
	source := ratelimit.SourceKey(r.RemoteAddr)
	reserved := []failureLimit{{s.cfg.LoginFailuresPerSource, source}, {s.cfg.LoginFailuresPerUser, f.Name}}
	if err := s.reserveFailure(ctx, reserved...); err != nil {
		if problem.Is(err, problem.RateLimited) {
			return fail(tooMany(err))
		}
		return err
	}
	var u *store.User
	err := s.hashing(ctx, func() (err error) {
		u, err = users.Authenticate(ctx, s.cfg.Store, f.Name, f.Password)
		return err
	})
	if errors.Is(err, users.ErrBadLogin) {
		s.cfg.Logger.Info("web: failed login", "user", f.Name, "source", source)
		s.auditFailedLogin(r, f.Name, source)
		return fail("Wrong user name or password.")
	}
	s.refundFailure(ctx, reserved...)
	if err != nil {
		return err
	}
	if err := s.startSession(w, r, u); err != nil {
		return err
	}
	s.audit(r, u.OwnerID, u.Name, "login", "password from "+source)
	http.Redirect(w, r, f.Next, http.StatusSeeOther)
	return nil
}

// tooMany is what the login page says when a limit refuses.
func tooMany(err error) string {
	var p *problem.Error
	if errors.As(err, &p) && p.RetryAfter > 0 {
		return "Too many failed logins. Try again in " + p.RetryAfter.Round(1e9).String() + "."
	}
	return "Too many failed logins. Try again later."
}

// failureLimit is a limit on failed attempts and the key it counts for.
type failureLimit struct {
	lim ratelimit.Limit
	key string
}

// reserveFailure counts one failure in each limit before a password is
// checked: were the limits checked before hashing and taken after, a burst
// of concurrent attempts would all pass the check and check far more
// passwords than the limits allow. A reached limit writes nothing.
func (s *Server) reserveFailure(ctx context.Context, ls ...failureLimit) error {
	now := s.cfg.Now()
	return s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		for _, l := range ls {
			if err := l.lim.Take(ctx, tx, l.key, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// refundFailure gives back what reserveFailure counted, for an attempt
// that did not fail. A refund that cannot be written leaves the failure
// counted, which errs on the safe side.
func (s *Server) refundFailure(ctx context.Context, ls ...failureLimit) {
	now := s.cfg.Now()
	err := s.cfg.Store.Update(context.WithoutCancel(ctx), func(tx store.Tx) error {
		for _, l := range ls {
			if err := l.lim.Refund(ctx, tx, l.key, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.cfg.Logger.Error("web: refund a login failure", "err", err)
	}
}

// hashing runs fn, which hashes a password, once one of the issuer's
// hashing slots is free. Each argon2id hash holds 19 MiB for its 30 ms or
// so: without a bound, a burst of N logins held N times that. A request
// that waits longer than hashWait is told the issuer is busy.
func (s *Server) hashing(ctx context.Context, fn func() error) error {
	t := time.NewTimer(hashWait)
	defer t.Stop()
	select {
	case s.hashSlots <- struct{}{}:
	case <-t.C:
		return errStatus(http.StatusServiceUnavailable, "The issuer is busy. Try again in a minute.")
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.hashSlots }()
	return fn()
}

// hashWait is how long a login waits for a free hashing slot.
const hashWait = 10 * time.Second

func (s *Server) postLogout(w http.ResponseWriter, r *http.Request, v *viewer) error {
	if err := s.endSession(w, r, v); err != nil {
		return err
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

// safeNext keeps a post-login redirect on this site: a path, never a
// scheme-relative or absolute URL. Browsers strip tabs and newlines from a
// Location and read a backslash as a slash (WHATWG URL, "special" schemes),
// so "/\t/evil.example" would become "//evil.example": a control byte or
// backslash anywhere refuses the whole value, and what is left must parse
// as a path with no scheme and no host.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.ContainsFunc(next, func(r rune) bool {
		return r < 0x20 || r == 0x7f || r == '\\' || unicode.IsSpace(r)
	}) {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
		!strings.HasPrefix(u.Path, "/") || strings.HasPrefix(next, "//") {
		return "/"
	}
	return next
}

// needsSetup reports whether the setup page is open: a token was set and
// no user exists.
func (s *Server) needsSetup(r *http.Request) bool {
	if s.cfg.SetupToken == "" || s.setupDone.Load() {
		return false
	}
	us, err := s.cfg.Store.ListUsers(r.Context())
	if err != nil || len(us) > 0 {
		s.setupDone.Store(err == nil)
		return false
	}
	return true
}

type setupPage struct {
	Token string
	Name  string
	Error string
}

func (s *Server) serveSetup(w http.ResponseWriter, r *http.Request) {
	v, err := s.viewerOf(w, r)
	if err == nil && !s.needsSetup(r) {
		err = errStatus(http.StatusNotFound, "This issuer is set up already. Log in instead.")
	}
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	s.render(w, r, v, http.StatusOK, "setup", "Set up lantls", &setupPage{Token: r.URL.Query().Get("token")})
}

func (s *Server) postSetup(w http.ResponseWriter, r *http.Request, v *viewer) error {
	if !s.needsSetup(r) {
		return errStatus(http.StatusNotFound, "This issuer is set up already. Log in instead.")
	}
	f := parseSetupForm(r.PostForm)
	page := &setupPage{Token: f.Token, Name: f.Name}
	if subtle.ConstantTimeCompare([]byte(f.Token), []byte(s.cfg.SetupToken)) != 1 {
		return errStatus(http.StatusForbidden, "The setup token is wrong. Use the link 'lantls issuer' printed when it started.")
	}
	if f.Error != "" {
		page.Error = f.Error
		s.render(w, r, v, http.StatusBadRequest, "setup", "Set up lantls", page)
		return nil
	}
	var u *store.User
	err := s.hashing(r.Context(), func() (err error) {
		u, err = users.Add(r.Context(), s.cfg.Store, f.Name, store.RoleAdmin, f.Password)
		return err
	})
	var he *httpError
	if errors.As(err, &he) {
		return err
	}
	if err != nil {
		page.Error = strings.TrimPrefix(err.Error(), "add user: ")
		s.render(w, r, v, http.StatusBadRequest, "setup", "Set up lantls", page)
		return nil
	}
	s.setupDone.Store(true)
	if err := s.startSession(w, r, u); err != nil {
		return err
	}
	s.audit(r, u.OwnerID, u.Name, "setup", "first admin created")
	http.Redirect(w, r, "/?msg=setup", http.StatusSeeOther)
	return nil
}
