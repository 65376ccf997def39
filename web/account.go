package web

import (
	"encoding/base64"
	"errors"
	"net/http"

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
	if _, err := users.Authenticate(r.Context(), s.cfg.Store, v.user.Name, f.Current); errors.Is(err, users.ErrBadLogin) {
		return s.renderAccount(w, r, v, http.StatusBadRequest, "Your current password is not right.")
	} else if err != nil {
		return err
	}
	if f.Error != "" {
		return s.renderAccount(w, r, v, http.StatusBadRequest, f.Error)
	}
	if err := users.SetPassword(r.Context(), s.cfg.Store, v.user.Name, f.New); err != nil {
		return err
	}
	// SetPassword ended every session, this one too: start a new one.
	if err := s.startSession(w, r, v.user); err != nil {
		return err
	}
	s.audit(r, v.user.OwnerID, v.user.Name, "password", "password changed")
	http.Redirect(w, r, "/account?msg=password", http.StatusSeeOther)
	return nil
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
