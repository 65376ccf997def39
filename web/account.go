package web

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"

	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
	"github.com/lantls/lantls/users"
)

type accountPage struct {
	Name     string
	Role     store.Role
	Owner    string
	Passkeys []passkeyRow
	Error    string
}

type passkeyRow struct {
	ID       string // base64url of the credential ID
	Name     string
	Created  string
	LastUsed string
}

func (s *Server) serveAccount(w http.ResponseWriter, r *http.Request, v *viewer) error {
	return s.renderAccount(w, r, v, http.StatusOK, "")
}

func (s *Server) renderAccount(w http.ResponseWriter, r *http.Request, v *viewer, status int, msg string) error {
	keys, err := s.cfg.Store.ListPasskeys(r.Context(), v.user.ID)
	if err != nil {
		return err
	}
	page := &accountPage{Name: v.user.Name, Role: v.user.Role, Owner: v.owner.Name, Error: msg}
	for _, k := range keys {
		page.Passkeys = append(page.Passkeys, passkeyRow{ID: base64.RawURLEncoding.EncodeToString(k.ID), Name: k.Name,
			Created: fmtDate(k.CreatedAt), LastUsed: fmtDate(k.LastUsedAt)})
	}
	s.render(w, r, v, status, "account", "Your account", page)
	return nil
}

func (s *Server) postPassword(w http.ResponseWriter, r *http.Request, v *viewer) error {
	f := parsePasswordForm(r.PostForm)
	if err := s.confirmPassword(r.Context(), v, f.Current); err != nil {
		var he *httpError
		if errors.As(err, &he) {
			return s.renderAccount(w, r, v, http.StatusBadRequest, he.msg)
		}
		return err
	}
	if f.Error != "" {
		return s.renderAccount(w, r, v, http.StatusBadRequest, f.Error)
	}
	err := s.hashing(r.Context(), func() error { return users.SetPassword(r.Context(), s.cfg.Store, v.user.Name, f.New) })
	if err != nil {
		return err
	}
	// SetPassword ended every session, this one too: start a new one.
	if err := s.startSession(w, r, v.user); err != nil {
		return err
	}
	s.audit(r, v.user.OwnerID, v.user.Name, "password", "password changed; sessions and passkeys ended")
	http.Redirect(w, r, "/account?msg=password", http.StatusSeeOther)
	return nil
}

// errWrongPassword is confirmPassword's answer to a wrong password.
var errWrongPassword = errStatus(http.StatusForbidden, "Your current password is not right.")

// confirmPassword checks that password is v's own before a change that
// would outlive the session (a new password, a new passkey): a session
// alone, stolen or left open, must not take the account over for good.
// Wrong passwords count against the user's login limit, reserved before
// hashing like a login's.
func (s *Server) confirmPassword(ctx context.Context, v *viewer, password string) error {
	limit := failureLimit{s.cfg.LoginFailuresPerUser, v.user.Name}
	if err := s.reserveFailure(ctx, limit); err != nil {
		if problem.Is(err, problem.RateLimited) {
			return errStatus(http.StatusTooManyRequests, tooMany(err))
		}
		return err
	}
	err := s.hashing(ctx, func() error {
		_, err := users.Authenticate(ctx, s.cfg.Store, v.user.Name, password)
		return err
	})
	if errors.Is(err, users.ErrBadLogin) {
		s.cfg.Logger.Info("web: wrong current password", "user", v.user.Name)
		return errWrongPassword
	}
	s.refundFailure(ctx, limit)
	return err
}

func (s *Server) postDeletePasskey(w http.ResponseWriter, r *http.Request, v *viewer) error {
	id, err := base64.RawURLEncoding.DecodeString(r.PathValue("id"))
	if err != nil {
		return errNotFound
	}
	if err := s.cfg.Store.DeletePasskey(r.Context(), v.user.ID, id); errors.Is(err, store.ErrNotFound) {
		return errNotFound
	} else if err != nil {
		return err
	}
	s.audit(r, v.user.OwnerID, v.user.Name, "passkey", "passkey removed")
	http.Redirect(w, r, "/account?msg=nopasskey", http.StatusSeeOther)
	return nil
}
