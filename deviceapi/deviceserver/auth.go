package deviceserver

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
)

// tokenPrefix starts every device bearer token, so that a leaked one is
// recognizable (e.g. by secret scanners).
const tokenPrefix = "lantls_at_"

// NewToken makes a bearer token for the device with ID deviceID inside tx
// and returns it; only its SHA-256 hash is stored. Pairing calls it when a
// device collects its credentials, rotation when a device asks for a new
// one.
func NewToken(ctx context.Context, tx store.Tx, deviceID string, now time.Time) (string, error) {
	var b [32]byte
	rand.Read(b[:])
	token := tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	if err := tx.CreateToken(ctx, &store.Token{Hash: tokenHash(token), DeviceID: deviceID, CreatedAt: now}); err != nil {
		return "", fmt.Errorf("create token: %w", err)
	}
	return token, nil
}

// tokenHash is how tokens are stored and looked up: hex SHA-256. A token
// is random and long, so a slow password hash would add nothing.
func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// handler serves a request of the authenticated device d, or returns the
// error to answer with before it writes anything.
type handler func(w http.ResponseWriter, r *http.Request, d *store.Device) error

// device authenticates each request by its bearer token before h serves
// it, and writes h's error as a problem document.
func (s *Server) device(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, err := s.authenticate(r)
		if err == nil {
			err = h(w, r, d)
		}
		if err != nil {
			s.writeProblem(w, r, err)
		}
	})
}

// authenticate returns the device whose bearer token (RFC 6750 section
// 2.1) r carries. A missing, malformed, unknown, revoked or expired token,
// or one of a device that is no longer active, is an unauthorized problem
// (401).
func (s *Server) authenticate(r *http.Request) (*store.Device, error) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || !strings.HasPrefix(token, tokenPrefix) {
		return nil, problem.UnauthorizedErr("send the device's bearer token: Authorization: Bearer TOKEN")
	}
	ctx := r.Context()
	t, err := s.cfg.Store.GetTokenByHash(ctx, tokenHash(token))
	if errors.Is(err, store.ErrNotFound) {
		return nil, problem.UnauthorizedErr("unknown bearer token")
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	if !t.Valid(s.cfg.Now()) {
		return nil, problem.UnauthorizedErr("the bearer token was revoked or has expired")
	}
	d, err := s.cfg.Store.GetDevice(ctx, t.DeviceID)
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	if d.Status != store.StatusActive {
		return nil, problem.UnauthorizedErr("the device is %s", d.Status)
	}
	return d, nil
}

// takeWrite counts one write of device d against DeviceWritesPerDevice,
// inside tx, the transaction of the write it guards.
func (s *Server) takeWrite(ctx context.Context, tx store.Tx, d *store.Device) error {
	return s.cfg.Limits.DeviceWritesPerDevice.Take(ctx, tx, d.ID, s.cfg.Now())
}

// writeProblem writes err as an RFC 7807 problem document, the error form
// of the device API; an unauthorized problem carries the Bearer challenge
// (RFC 6750 section 3) and a rate limit Retry-After. Errors that are not
// problems are logged and become serverInternal without their text.
func (s *Server) writeProblem(w http.ResponseWriter, r *http.Request, err error) {
	p := problem.OrInternal(err)
	switch {
	case p.Kind == problem.ServerInternal:
		s.log.ErrorContext(r.Context(), "device API request failed", "path", r.URL.Path, "err", err)
	case p.Kind == problem.Unauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="lantls", error="invalid_token"`)
	}
	if p.RetryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int((p.RetryAfter+time.Second-1)/time.Second)))
	}
	b, _ := json.Marshal(p.Document())
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.HTTPStatus())
	w.Write(append(b, '\n'))
}
