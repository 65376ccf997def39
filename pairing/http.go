package pairing

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/lantls/lantls/acme/jws"
	"github.com/lantls/lantls/deviceapi/deviceserver"
	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/ratelimit"
	"github.com/lantls/lantls/store"
)

// DeviceCodeGrant is the grant_type of the token endpoint (RFC 8628
// section 3.4).
const DeviceCodeGrant = "urn:ietf:params:oauth:grant-type:device_code"

// maxForm bounds a request body: a JWK and a few short fields.
const maxForm = 16 << 10

// AuthorizationResponse is the device authorization response (RFC 8628
// section 3.2).
type AuthorizationResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int    `json:"expires_in"`
	Interval                int    `json:"interval"`
}

// TokenResponse is the token endpoint's answer once the owner approved
// (RFC 6749 section 5.1), with the device's lantls credentials.
type TokenResponse struct {
	AccessToken string       `json:"access_token"`
	TokenType   string       `json:"token_type"`
	ExpiresIn   int          `json:"expires_in,omitempty"`
	Lantls      *Credentials `json:"lantls,omitempty"`
}

// Credentials are what a paired device needs for ACME. EABHMACKey is
// secret, base64url without padding.
type Credentials struct {
	Directory  string   `json:"directory"`
	EABKID     string   `json:"eab_kid"`
	EABHMACKey string   `json:"eab_hmac_key"`
	Label      string   `json:"label"`
	Zone       string   `json:"zone"`
	Names      []string `json:"names"`
}

// oauthError is an error response of RFC 6749 section 5.2 (and RFC 8628
// section 3.5): status 400 unless set, JSON with error and
// error_description.
type oauthError struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
	status      int
	retryAfter  time.Duration
}

func (e *oauthError) Error() string { return e.Code + ": " + e.Description }

func oauthErr(code, format string, args ...any) *oauthError {
	return &oauthError{Code: code, Description: fmt.Sprintf(format, args...)}
}

// The error codes of RFC 6749 section 5.2 and RFC 8628 section 3.5.
const (
	errInvalidRequest       = "invalid_request"
	errInvalidGrant         = "invalid_grant"
	errUnsupportedGrantType = "unsupported_grant_type"
	errAuthorizationPending = "authorization_pending"
	errSlowDown             = "slow_down"
	errAccessDenied         = "access_denied"
	errExpiredToken         = "expired_token"
)

// authorizationRequest is a parsed device authorization request.
type authorizationRequest struct {
	clientID   string
	key        *jose.JSONWebKey
	jwk        []byte // the key as stored: public JWK JSON
	thumbprint string
	label      string
	model      string
	hostname   string
}

// parseAuthorizationRequest checks the form of POST
// /pair/device_authorization: client_id (RFC 8628 section 3.1), public_key
// (the device's P-256 ACME account key as a public JWK), and optional model
// and hostname.
func parseAuthorizationRequest(form url.Values) (*authorizationRequest, error) {
	clientID, err := field(form, "client_id", 128, true)
	if err != nil {
		return nil, err
	}
	r := &authorizationRequest{clientID: clientID}
	if r.model, err = field(form, "model", 128, false); err != nil {
		return nil, err
	}
	if r.hostname, err = field(form, "hostname", 253, false); err != nil {
		return nil, err
	}
	raw, err := field(form, "public_key", 4096, true)
	if err != nil {
		return nil, err
	}
	if r.key, err = ParseJWK([]byte(raw)); err != nil {
		return nil, oauthErr(errInvalidRequest, "public_key: %v", err)
	}
	spki, err := x509.MarshalPKIXPublicKey(r.key.Key)
	if err != nil {
		return nil, oauthErr(errInvalidRequest, "public_key: %v", err)
	}
	r.label = names.Label(spki)
	if r.thumbprint, err = jws.Thumbprint(r.key); err != nil {
		return nil, oauthErr(errInvalidRequest, "public_key: no thumbprint")
	}
	if r.jwk, err = jws.MarshalKey(r.key); err != nil {
		return nil, oauthErr(errInvalidRequest, "public_key: %v", err)
	}
	return r, nil
}

// ParseJWK reads a device's account key: a public JWK of an ECDSA P-256
// key, the one the device will sign its ACME requests with.
func ParseJWK(b []byte) (*jose.JSONWebKey, error) {
	key, err := jws.ParseKey(b)
	if err != nil {
		return nil, errors.New("not a valid public JWK")
	}
	pub, ok := key.Key.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, errors.New("want an EC P-256 key")
	}
	return key, nil
}

// field returns the single value of a form field, at most max bytes of
// printable UTF-8; a missing field is an error if required.
func field(form url.Values, name string, max int, required bool) (string, error) {
	vs := form[name]
	switch {
	case len(vs) == 0 || vs[0] == "" && len(vs) == 1:
		if required {
			return "", oauthErr(errInvalidRequest, "%s is required", name)
		}
		return "", nil
	case len(vs) > 1:
		// RFC 6749 section 3.2: parameters must not be repeated.
		return "", oauthErr(errInvalidRequest, "%s is repeated", name)
	}
	v := vs[0]
	if len(v) > max {
		return "", oauthErr(errInvalidRequest, "%s is longer than %d bytes", name, max)
	}
	if !utf8.ValidString(v) {
		return "", oauthErr(errInvalidRequest, "%s is not UTF-8", name)
	}
	for _, c := range v {
		// JSON may be indented; nothing else needs a control character.
		jsonSpace := name == "public_key" && (c == '\n' || c == '\r' || c == '\t')
		if unicode.IsControl(c) && !jsonSpace {
			return "", oauthErr(errInvalidRequest, "%s has control characters", name)
		}
	}
	return v, nil
}

// readForm parses a POST body of application/x-www-form-urlencoded, the
// only encoding RFC 8628 and RFC 6749 use; parameters in the URL are not
// read.
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, oauthErr(errInvalidRequest, "send the parameters as application/x-www-form-urlencoded")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		return nil, oauthErr(errInvalidRequest, "cannot read the form: %v", err)
	}
	return r.PostForm, nil
}

// DeviceAuthorization serves POST /pair/device_authorization (RFC 8628
// section 3.1 and 3.2).
func (s *Service) DeviceAuthorization(w http.ResponseWriter, r *http.Request) {
	s.serveOAuth(w, r, s.deviceAuthorization)
}

func (s *Service) deviceAuthorization(w http.ResponseWriter, r *http.Request) error {
	form, err := readForm(w, r)
	if err != nil {
		return err
	}
	req, err := parseAuthorizationRequest(form)
	if err != nil {
		return err
	}
	ctx := r.Context()
	now := s.cfg.Now()
	source := ratelimit.SourceKey(r.RemoteAddr)
	deviceCode := newSecret("lantls_dc_")
	p := &store.Pairing{
		ID:             store.NewID(now),
		DeviceCodeHash: hash(deviceCode),
		ClientID:       req.clientID,
		Model:          req.model,
		Hostname:       req.hostname,
		KeyJWK:         req.jwk,
		KeyThumbprint:  req.thumbprint,
		Label:          req.label,
		Source:         source,
		Status:         store.StatusPending,
		Interval:       s.cfg.Interval,
		CreatedAt:      now,
		Expires:        now.Add(s.cfg.Expiry),
	}
	if _, err := s.cfg.Store.GetDeviceByLabel(ctx, req.label); err == nil {
		return oauthErr(errInvalidRequest, "a device with this public_key is already paired: make a new account key to pair again")
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	// A fresh user code collides with a live one once in billions; draw
	// again then.
	for range 3 {
		p.UserCode = newUserCode()
		p.UserCodeHash = hash(p.UserCode)
		err = s.cfg.Store.Update(ctx, func(tx store.Tx) error {
			if err := s.cfg.Limits.FailedPairingsPerSource.Check(ctx, tx, source, now); err != nil {
				return err
			}
			if err := s.cfg.Limits.PairingsPerSource.Take(ctx, tx, source, now); err != nil {
				return err
			}
			return tx.CreatePairing(ctx, p)
		})
		if !errors.Is(err, store.ErrConflict) {
			break
		}
	}
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "pairing started", "pairing", p.ID, "label", p.Label, "model", p.Model, "source", source)
	shown := FormatUserCode(p.UserCode)
	verify := s.cfg.BaseURL + VerificationPath
	return writeJSON(w, http.StatusOK, &AuthorizationResponse{
		DeviceCode:              deviceCode,
		UserCode:                shown,
		VerificationURI:         verify,
		VerificationURIComplete: verify + "?" + UserCodeParam + "=" + shown,
		ExpiresIn:               int(s.cfg.Expiry / time.Second),
		Interval:                int((s.cfg.Interval + time.Second - 1) / time.Second),
	})
}

// tokenRequest is a parsed device access token request.
type tokenRequest struct {
	deviceCode string
	clientID   string
}

// parseTokenRequest checks the form of POST /pair/token (RFC 8628
// section 3.4).
func parseTokenRequest(form url.Values) (*tokenRequest, error) {
	grant, err := field(form, "grant_type", 128, true)
	if err != nil {
		return nil, err
	}
	if grant != DeviceCodeGrant {
		return nil, oauthErr(errUnsupportedGrantType, "grant_type must be %s", DeviceCodeGrant)
	}
	var t tokenRequest
	if t.deviceCode, err = field(form, "device_code", 256, true); err != nil {
		return nil, err
	}
	if t.clientID, err = field(form, "client_id", 128, true); err != nil {
		return nil, err
	}
	return &t, nil
}

// Token serves POST /pair/token (RFC 8628 section 3.4 and 3.5).
func (s *Service) Token(w http.ResponseWriter, r *http.Request) {
	s.serveOAuth(w, r, s.token)
}

func (s *Service) token(w http.ResponseWriter, r *http.Request) error {
	form, err := readForm(w, r)
	if err != nil {
		return err
	}
	req, err := parseTokenRequest(form)
	if err != nil {
		return err
	}
	ctx := r.Context()
	source := ratelimit.SourceKey(r.RemoteAddr)
	if err := s.cfg.Limits.FailedPairingsPerSource.Check(ctx, s.cfg.Store, source, s.cfg.Now()); err != nil {
		return err
	}
	p, err := s.cfg.Store.GetPairingByDeviceCode(ctx, hash(req.deviceCode))
	if errors.Is(err, store.ErrNotFound) {
		return s.unknownDeviceCode(r, source)
	}
	if err != nil {
		return err
	}
	if !sameCode(p.ClientID, req.clientID) {
		// RFC 6749 section 5.2: the grant was issued to another client.
		return oauthErr(errInvalidGrant, "the device_code was issued to another client_id")
	}
	now := s.cfg.Now()
	switch {
	case p.Status == store.StatusRedeemed:
		return oauthErr(errInvalidGrant, "the device_code was redeemed already; its credentials are given once")
	case p.Status == store.StatusDenied:
		return oauthErr(errAccessDenied, "the owner denied this device")
	case !now.Before(p.Expires):
		return oauthErr(errExpiredToken, "the device_code expired; start pairing again")
	case p.Status == store.StatusApproved:
		return s.redeem(w, r, p)
	}
	return s.poll(r, p, now)
}

// unknownDeviceCode counts a device_code that matches no pairing as a
// failed pairing of the source.
func (s *Service) unknownDeviceCode(r *http.Request, source string) error {
	ctx := r.Context()
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		return s.cfg.Limits.FailedPairingsPerSource.Take(ctx, tx, source, s.cfg.Now())
	})
	if err != nil {
		return err
	}
	return oauthErr(errInvalidGrant, "unknown device_code")
}

// poll answers a poll of a pending pairing: slow_down if it came sooner
// than the interval allows (and the interval grows by 5 s from then on,
// RFC 8628 section 3.5), else authorization_pending. A fifth of the
// interval is forgiven, for a network that delays one poll more than the
// next.
func (s *Service) poll(r *http.Request, p *store.Pairing, now time.Time) error {
	tooSoon := !p.LastPolled.IsZero() && now.Sub(p.LastPolled) < p.Interval-p.Interval/5
	p.LastPolled = now
	if tooSoon {
		p.Interval += SlowDownStep
	}
	err := s.cfg.Store.UpdatePairing(r.Context(), p, store.StatusPending)
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return err
	}
	// On a conflict the owner decided meanwhile; the next poll tells.
	if tooSoon {
		return oauthErr(errSlowDown, "poll at most every %s", p.Interval)
	}
	return oauthErr(errAuthorizationPending, "waiting for the owner to approve code %s", FormatUserCode(p.UserCode))
}

// redeem hands an approved pairing's credentials to the device, once: a
// new EAB key for its account and a bearer token for the device API, both
// made and recorded in the transaction that marks the pairing redeemed.
func (s *Service) redeem(w http.ResponseWriter, r *http.Request, p *store.Pairing) error {
	ctx := r.Context()
	now := s.cfg.Now()
	var (
		dev   *store.Device
		token string
		hmac  string
		kid   string
	)
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		p.Status, p.RedeemedAt, p.LastPolled = store.StatusRedeemed, now, now
		if err := tx.UpdatePairing(ctx, p, store.StatusApproved); errors.Is(err, store.ErrConflict) {
			return oauthErr(errInvalidGrant, "the device_code was redeemed already; its credentials are given once")
		} else if err != nil {
			return err
		}
		var err error
		if dev, err = tx.GetDevice(ctx, p.DeviceID); err != nil {
			return fmt.Errorf("get paired device: %w", err)
		}
		if dev.Status != store.StatusActive {
			return oauthErr(errAccessDenied, "the device was unpaired before it collected its credentials")
		}
		key, hmacKey := devices.NewEABKey(dev.ID, now)
		if err := tx.CreateEABKey(ctx, key); err != nil {
			return err
		}
		kid, hmac = key.KID, hmacKey
		if token, err = deviceserver.NewToken(ctx, tx, dev.ID, now); err != nil {
			return err
		}
		return devices.AuditDevice(ctx, tx, dev, "device "+dev.Label, devices.AuditPair, "collected its credentials from "+ratelimit.SourceKey(r.RemoteAddr))
	})
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "pairing redeemed", "pairing", p.ID, "device", dev.ID, "label", dev.Label)
	return writeJSON(w, http.StatusOK, &TokenResponse{
		AccessToken: token,
		TokenType:   "Bearer",
		Lantls: &Credentials{
			Directory:  s.cfg.BaseURL + "/acme/directory",
			EABKID:     kid,
			EABHMACKey: hmac,
			Label:      dev.Label,
			Zone:       s.cfg.Zone,
			Names:      s.Names(dev.Label),
		},
	})
}

// serveOAuth runs h and writes its error as RFC 6749 section 5.2 says.
// Every answer of these endpoints carries secrets or says whether a code
// is live, so none may be cached (RFC 6749 section 5.1).
func (s *Service) serveOAuth(w http.ResponseWriter, r *http.Request, h func(http.ResponseWriter, *http.Request) error) {
	w.Header().Set("Cache-Control", "no-store")
	err := h(w, r)
	if err == nil {
		return
	}
	var oe *oauthError
	if !errors.As(err, &oe) {
		oe = s.oauthFromProblem(r, err)
	}
	status := oe.status
	if status == 0 {
		status = http.StatusBadRequest
	}
	if oe.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((oe.retryAfter+time.Second-1)/time.Second)))
	}
	writeJSON(w, status, oe)
}

// oauthFromProblem maps an internal error to an OAuth error: a rate limit
// becomes slow_down with status 429 and Retry-After; anything else is a
// server error whose text stays in the log.
func (s *Service) oauthFromProblem(r *http.Request, err error) *oauthError {
	p := problem.OrInternal(err)
	if p.Kind == problem.RateLimited {
		return &oauthError{Code: errSlowDown, Description: p.Detail, status: http.StatusTooManyRequests, retryAfter: p.RetryAfter}
	}
	s.log.ErrorContext(r.Context(), "pairing request failed", "path", r.URL.Path, "err", err)
	return &oauthError{Code: "server_error", Description: "internal error", status: http.StatusInternalServerError}
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err = w.Write(append(b, '\n'))
	return err
}
