package web

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/lantls/lantls/store"
	"github.com/lantls/lantls/users"
)

// Passkeys (WebAuthn). The relying party ID is the issuer's host name; a
// browser that reached the issuer by IP address cannot use them, and the
// pages say so. The ceremony state between begin and finish travels in a
// short-lived cookie signed with the CSRF key, so any issuer instance on
// the store can finish what another began.

const (
	ceremonyCookie = "__Host-lantls-webauthn"
	ceremonyTTL    = 5 * time.Minute
)

func newWebAuthn(cfg Config) (*webauthn.WebAuthn, error) {
	if net.ParseIP(cfg.RPID) != nil {
		return nil, fmt.Errorf("web: passkey relying party ID %q is an IP address; use a host name (--hostname)", cfg.RPID)
	}
	origins := cfg.Origins
	if len(origins) == 0 {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil {
			return nil, fmt.Errorf("web: base URL: %w", err)
		}
		o := "https://" + cfg.RPID
		if p := u.Port(); p != "" && p != "443" {
			o += ":" + p
		}
		origins = []string{o}
	}
	w, err := webauthn.New(&webauthn.Config{
		RPID:          cfg.RPID,
		RPDisplayName: "lantls issuer",
		RPOrigins:     origins,
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: ceremonyTTL},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: ceremonyTTL},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("web: passkeys: %w", err)
	}
	return w, nil
}

// passkeyUser is a store user as go-webauthn sees it. The user handle is
// the user's ID: random, and nothing a person sees.
type passkeyUser struct {
	u     *store.User
	keys  []*store.Passkey
	creds []webauthn.Credential
}

func (p *passkeyUser) WebAuthnID() []byte                         { return []byte(p.u.ID) }
func (p *passkeyUser) WebAuthnName() string                       { return p.u.Name }
func (p *passkeyUser) WebAuthnDisplayName() string                { return p.u.Name }
func (p *passkeyUser) WebAuthnCredentials() []webauthn.Credential { return p.creds }

func (s *Server) passkeyUser(r *http.Request, u *store.User) (*passkeyUser, error) {
	keys, err := s.cfg.Store.ListPasskeys(r.Context(), u.ID)
	if err != nil {
		return nil, err
	}
	pu := &passkeyUser{u: u, keys: keys}
	for _, k := range keys {
		var c webauthn.Credential
		if err := json.Unmarshal(k.Data, &c); err != nil {
			return nil, fmt.Errorf("passkey of %s: %w", u.Name, err)
		}
		pu.creds = append(pu.creds, c)
	}
	return pu, nil
}

// jsonError is how the passkey endpoints, called by script, fail.
func jsonError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (s *Server) passkeysOff(w http.ResponseWriter, r *http.Request) bool {
	switch {
	case s.webauthn == nil:
		jsonError(w, http.StatusNotFound, "Passkeys are not set up on this issuer (start it with --hostname).")
	case hostIsIP(r):
		jsonError(w, http.StatusBadRequest, "Passkeys need the issuer's host name: open "+s.rpURL(r))
	default:
		return false
	}
	return true
}

// postPasskeyRegisterBegin starts adding a passkey, which needs the
// user's password as well as the session: a passkey outlives the session,
// so whoever held only a session could otherwise keep the account.
func (s *Server) postPasskeyRegisterBegin(w http.ResponseWriter, r *http.Request, v *viewer) error {
	if s.passkeysOff(w, r) {
		return nil
	}
	var body struct {
		Password string `json:"password"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Password == "" {
		jsonError(w, http.StatusBadRequest, "Enter your password to add a passkey.")
		return nil
	}
	if err := s.confirmPassword(r.Context(), v, body.Password); err != nil {
		var he *httpError
		if errors.As(err, &he) {
			jsonError(w, he.status, he.msg)
			return nil
		}
		return err
	}
	pu, err := s.passkeyUser(r, v.user)
	if err != nil {
		return err
	}
	var exclude []protocol.CredentialDescriptor
	for _, c := range pu.creds {
		exclude = append(exclude, c.Descriptor())
	}
	creation, session, err := s.webauthn.BeginRegistration(pu,
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired),
		webauthn.WithExclusions(exclude))
	if err != nil {
		return err
	}
	s.setCeremony(w, "register:"+v.user.ID, session)
	writeJSON(w, http.StatusOK, creation)
	return nil
}

func (s *Server) postPasskeyRegisterFinish(w http.ResponseWriter, r *http.Request, v *viewer) error {
	if s.passkeysOff(w, r) {
		return nil
	}
	session, ok := s.ceremony(w, r, "register:"+v.user.ID)
	if !ok {
		jsonError(w, http.StatusBadRequest, "The passkey request expired. Try again.")
		return nil
	}
	pu, err := s.passkeyUser(r, v.user)
	if err != nil {
		return err
	}
	cred, err := s.webauthn.FinishRegistration(pu, *session, r)
	if err != nil {
		s.cfg.Logger.Info("web: passkey registration refused", "user", v.user.Name, "err", err)
		jsonError(w, http.StatusBadRequest, "The browser's answer was not accepted. Try again.")
		return nil
	}
	data, err := json.Marshal(cred)
	if err != nil {
		return err
	}
	name := passkeyName(r.URL.Query().Get("name"))
	if err := s.cfg.Store.CreatePasskey(r.Context(), &store.Passkey{ID: cred.ID, UserID: v.user.ID, Name: name, Data: data}); err != nil {
		return err
	}
	s.audit(r, v.user.OwnerID, v.user.Name, "passkey", fmt.Sprintf("passkey %q registered", name))
	writeJSON(w, http.StatusOK, map[string]string{"redirect": "/account?msg=passkey"})
	return nil
}

// passkeyName is the name a person gave a passkey, bounded; "Passkey"
// if none.
func passkeyName(s string) string {
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > 40 {
		s = string(r[:40])
	}
	if s == "" {
		return "Passkey"
	}
	return s
}

func (s *Server) postPasskeyLoginBegin(w http.ResponseWriter, r *http.Request, v *viewer) error {
	if s.passkeysOff(w, r) {
		return nil
	}
	assertion, session, err := s.webauthn.BeginDiscoverableLogin(
		webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return err
	}
	s.setCeremony(w, "login", session)
	writeJSON(w, http.StatusOK, assertion)
	return nil
}

func (s *Server) postPasskeyLoginFinish(w http.ResponseWriter, r *http.Request, v *viewer) error {
	if s.passkeysOff(w, r) {
		return nil
	}
	session, ok := s.ceremony(w, r, "login")
	if !ok {
		jsonError(w, http.StatusBadRequest, "The passkey request expired. Try again.")
		return nil
	}
	var found *passkeyUser
	handler := func(rawID, userHandle []byte) (webauthn.User, error) {
		u, err := s.cfg.Store.GetUser(r.Context(), string(userHandle))
		if err != nil {
			return nil, err
		}
		found, err = s.passkeyUser(r, u)
		return found, err
	}
	_, cred, err := s.webauthn.FinishPasskeyLogin(handler, *session, r)
	if err == nil && cred.Authenticator.CloneWarning {
		err = errors.New("the authenticator's sign counter went back: it may be cloned")
	}
	if err == nil && found != nil && users.Disabled(found.u) {
		err = fmt.Errorf("user %s is disabled", found.u.Name)
	}
	if err != nil || found == nil {
		s.cfg.Logger.Info("web: passkey login refused", "err", err)
		jsonError(w, http.StatusUnauthorized, "This passkey was not accepted. Log in with your password, or try another passkey.")
		return nil
	}
	for _, k := range found.keys {
		if bytes.Equal(k.ID, cred.ID) {
			k.LastUsedAt = s.cfg.Now()
			if k.Data, err = json.Marshal(cred); err != nil {
				return err
			}
			if err := s.cfg.Store.UpdatePasskey(r.Context(), k); err != nil {
				return err
			}
		}
	}
	if err := s.startSession(w, r, found.u); err != nil {
		return err
	}
	s.audit(r, found.u.OwnerID, found.u.Name, "login", "passkey")
	writeJSON(w, http.StatusOK, map[string]string{"redirect": safeNext(r.URL.Query().Get("next"))})
	return nil
}

// setCeremony keeps a ceremony's session data, bound to purpose, in a
// signed cookie.
func (s *Server) setCeremony(w http.ResponseWriter, purpose string, sd *webauthn.SessionData) {
	b, _ := json.Marshal(sd)
	val := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: ceremonyCookie, Value: val + "." + s.ceremonyMAC(purpose, val),
		Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: int(ceremonyTTL / time.Second)})
}

// ceremony reads back and clears the session data setCeremony kept for
// purpose.
func (s *Server) ceremony(w http.ResponseWriter, r *http.Request, purpose string) (*webauthn.SessionData, bool) {
	c, err := r.Cookie(ceremonyCookie)
	if err != nil {
		return nil, false
	}
	http.SetCookie(w, &http.Cookie{Name: ceremonyCookie, Path: "/", Secure: true, HttpOnly: true, MaxAge: -1})
	val, mac, ok := strings.Cut(c.Value, ".")
	if !ok || !hmac.Equal([]byte(mac), []byte(s.ceremonyMAC(purpose, val))) {
		return nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(val)
	if err != nil {
		return nil, false
	}
	var sd webauthn.SessionData
	if json.Unmarshal(b, &sd) != nil || s.cfg.Now().After(sd.Expires) {
		return nil, false
	}
	return &sd, true
}

func (s *Server) ceremonyMAC(purpose, val string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte("lantls webauthn\x00" + purpose + "\x00" + val))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
