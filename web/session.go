package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/lantls/lantls/store"
	"github.com/lantls/lantls/users"
)

// Cookies. The __Host- prefix makes browsers refuse them unless Secure,
// host-only and Path=/, so no sibling host or plain-HTTP page can set them.
const (
	sessionCookie = "__Host-lantls-session"
	// preCookie holds a random value that anchors the CSRF token of forms
	// shown before login (login, setup).
	preCookie = "__Host-lantls-pre"
	maxForm   = 64 << 10
)

// viewer is who is asking: the logged-in user, if any, and the CSRF token
// the forms of this answer carry.
type viewer struct {
	user    *store.User
	owner   *store.Owner
	session string // store ID of the session
	csrf    string
}

func (v *viewer) admin() bool { return v.user != nil && v.user.Role == store.RoleAdmin }

// httpError is an error with the status and the message a person sees.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func errStatus(status int, msg string) error { return &httpError{status, msg} }

var errNotFound = errStatus(http.StatusNotFound, "There is nothing here, or it is not yours.")

// viewerOf reads the session cookie and, for visitors without a session,
// makes sure they have the pre-login cookie that anchors CSRF tokens.
func (s *Server) viewerOf(w http.ResponseWriter, r *http.Request) (*viewer, error) {
	v := &viewer{}
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		id := sessionID(c.Value)
		se, err := s.cfg.Store.GetSession(r.Context(), id)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return nil, err
		case !se.Expires.After(s.cfg.Now()):
			s.cfg.Store.DeleteSession(r.Context(), id)
		default:
			u, err := s.cfg.Store.GetUser(r.Context(), se.UserID)
			if err != nil {
				return nil, err
			}
			if users.Disabled(u) {
				// Disabling ends the user's sessions; this one was
				// made in the moment between.
				s.cfg.Store.DeleteSession(r.Context(), id)
				break
			}
			o, err := s.cfg.Store.GetOwner(r.Context(), u.OwnerID)
			if err != nil {
				return nil, err
			}
			v.user, v.owner, v.session = u, o, id
			v.csrf = s.csrfToken("s:" + id)
			return v, nil
		}
	}
	pre := ""
	if c, err := r.Cookie(preCookie); err == nil && len(c.Value) == 43 {
		pre = c.Value
	} else {
		pre = randomToken()
		http.SetCookie(w, &http.Cookie{Name: preCookie, Value: pre, Path: "/", Secure: true, HttpOnly: true,
			SameSite: http.SameSiteLaxMode, MaxAge: 86400})
	}
	v.csrf = s.csrfToken("p:" + pre)
	return v, nil
}

// csrfToken is the token forms carry for seed: an HMAC under the store's
// key, so it cannot be made without the key and needs no storage.
func (s *Server) csrfToken(seed string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte("lantls csrf\x00" + seed))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// crossOrigin refuses state-changing requests that the browser says came
// from another origin (Sec-Fetch-Site, else Origin against Host).
var crossOrigin = http.NewCrossOriginProtection()

// checkCSRF accepts a state-changing request only with the token of the
// viewer's own forms (field csrf or header X-CSRF-Token) and, when the
// browser says where it came from, only from this origin (crossOrigin).
func checkCSRF(r *http.Request, v *viewer) error {
	if err := crossOrigin.Check(r); err != nil {
		return errStatus(http.StatusForbidden, "This form was sent from another site. Reload the page and try again.")
	}
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostFormValue("csrf")
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(v.csrf)) != 1 {
		return errStatus(http.StatusForbidden, "This form has expired. Reload the page and try again.")
	}
	return nil
}

// startSession logs u in: a new random session secret in the cookie, its
// hash in the store. The session the browser had, if any, ends: a login
// never keeps a session that someone else may have planted or still holds.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u *store.User) error {
	secret := randomToken()
	now := s.cfg.Now()
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		if err := s.cfg.Store.DeleteSession(r.Context(), sessionID(c.Value)); err != nil {
			return err
		}
	}
	// Sweep this user's expired sessions and everyone's along the way.
	if _, err := s.cfg.Store.DeleteSessions(r.Context(), "", now); err != nil {
		return err
	}
	se := &store.Session{ID: sessionID(secret), UserID: u.ID, CreatedAt: now, Expires: now.Add(s.cfg.SessionLifetime)}
	if err := s.cfg.Store.CreateSession(r.Context(), se); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: secret, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Expires: se.Expires})
	return nil
}

func (s *Server) endSession(w http.ResponseWriter, r *http.Request, v *viewer) error {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, MaxAge: -1})
	if v.session == "" {
		return nil
	}
	return s.cfg.Store.DeleteSession(r.Context(), v.session)
}

// sessionID is the store ID of a session secret.
func sessionID(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// randomToken returns 32 random bytes as 43 base64url characters.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// page wraps a GET handler that needs a logged-in viewer: visitors go to
// the login page, which brings them back.
func (s *Server) page(h func(w http.ResponseWriter, r *http.Request, v *viewer) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := s.viewerOf(w, r)
		if err == nil && v.user == nil {
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if err == nil {
			err = h(w, r, v)
		}
		s.fail(w, r, v, err)
	}
}

// action wraps a POST handler that needs a logged-in viewer and a valid
// CSRF token.
func (s *Server) action(h func(w http.ResponseWriter, r *http.Request, v *viewer) error) http.HandlerFunc {
	return s.form(func(w http.ResponseWriter, r *http.Request, v *viewer) error {
		if v.user == nil {
			return errStatus(http.StatusUnauthorized, "You are not logged in, or your session has ended. Log in and try again.")
		}
		return h(w, r, v)
	})
}

// form wraps a POST handler open to visitors (login, setup) that checks
// the CSRF token all the same.
func (s *Server) form(h func(w http.ResponseWriter, r *http.Request, v *viewer) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		v, err := s.viewerOf(w, r)
		if err == nil && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			if err = r.ParseForm(); err != nil {
				err = errStatus(http.StatusBadRequest, "The form could not be read.")
			}
		}
		if err == nil {
			err = checkCSRF(r, v)
		}
		if err == nil {
			err = h(w, r, v)
		}
		s.fail(w, r, v, err)
	}
}

// fail shows err, if any, as an error page; unexpected errors are logged
// and shown without detail.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, v *viewer, err error) {
	if err == nil {
		return
	}
	var he *httpError
	if !errors.As(err, &he) {
		s.cfg.Logger.Error("web", "path", r.URL.Path, "err", err)
		he = &httpError{http.StatusInternalServerError, "Something went wrong on the issuer. The error is in its log."}
	}
	if v == nil {
		v = &viewer{}
	}
	s.render(w, r, v, he.status, "error", "Error", he.msg)
}
