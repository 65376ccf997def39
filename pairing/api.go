package pairing

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/lantls/lantls/deviceapi"
	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
)

// tokenPrefix starts every device bearer token.
const tokenPrefix = "lantls_at_"

// newToken makes a bearer token for a device inside tx and returns it; only
// its hash is stored.
func newToken(ctx context.Context, tx store.Tx, deviceID string, now time.Time) (string, error) {
	token := newSecret(tokenPrefix)
	if err := tx.CreateToken(ctx, &store.Token{Hash: hash(token), DeviceID: deviceID, CreatedAt: now}); err != nil {
		return "", fmt.Errorf("create token: %w", err)
	}
	return token, nil
}

// Authenticate returns the device whose bearer token (RFC 6750 section
// 2.1) r carries. A missing, malformed, unknown, revoked or expired token,
// or one of a device that is no longer active, is an unauthorized problem
// (401); WriteProblem adds the WWW-Authenticate challenge.
func (s *Service) Authenticate(r *http.Request) (*store.Device, error) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || !strings.HasPrefix(token, tokenPrefix) {
		return nil, problem.UnauthorizedErr("send the device's bearer token: Authorization: Bearer TOKEN")
	}
	ctx := r.Context()
	t, err := s.cfg.Store.GetTokenByHash(ctx, hash(token))
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

// WriteProblem writes err as an RFC 7807 problem document, the error form
// of the device API; an unauthorized problem carries the Bearer challenge
// (RFC 6750 section 3) and a rate limit Retry-After. Errors that are not
// problems become serverInternal without their text.
func WriteProblem(w http.ResponseWriter, err error) {
	p := problem.OrInternal(err)
	if p.Kind == problem.Unauthorized {
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

// ServePolicy serves GET /api/v1/device/policy: the calling device's
// origin grants, with a strong ETag of the body and Cache-Control, so a
// device that polls gets 304 Not Modified until the owner changes them.
func (s *Service) ServePolicy(w http.ResponseWriter, r *http.Request) {
	d, err := s.Authenticate(r)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	g, err := s.cfg.Store.GetGrants(r.Context(), d.ID)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	revoked, err := s.revokedSerials(r.Context(), d.ID)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	extra, err := s.extraNames(r.Context(), d.ID)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	body, err := json.Marshal(&deviceapi.Policy{Label: d.Label, Origins: g.Origins, Revoked: revoked, Names: extra})
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	h := w.Header()
	h.Set("ETag", etag)
	// private: the answer depends on the Authorization header.
	h.Set("Cache-Control", fmt.Sprintf("private, max-age=%d", int(deviceapi.PolicyMaxAge/time.Second)))
	h.Set("Vary", "Authorization")
	if etagMatch(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/json")
	w.Write(append(body, '\n'))
}

// extraNames lists the names the owner gave the device that the signer
// adds to its certificates (Config.AddsName), none without a signer that
// adds names.
func (s *Service) extraNames(ctx context.Context, deviceID string) ([]string, error) {
	if s.cfg.AddsName == nil {
		return nil, nil
	}
	n, err := s.cfg.Store.GetDeviceShortName(ctx, deviceID)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, name := range names.ShortNames(n.Name, s.cfg.Zone, n.MDNS) {
		if s.cfg.AddsName(name) {
			out = append(out, name)
		}
	}
	return out, nil
}

// revokedSerials lists the serials of the device's revoked certificates
// that have not expired.
func (s *Service) revokedSerials(ctx context.Context, deviceID string) ([]string, error) {
	certs, err := s.cfg.Store.ListCertificates(ctx, deviceID)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	revoked := []string{}
	for _, c := range certs {
		if c.Revoked() && c.NotAfter.After(now) {
			revoked = append(revoked, c.Serial)
		}
	}
	return revoked, nil
}

// etagMatch reports whether an If-None-Match header names etag (RFC 9110
// section 13.1.2, weak comparison).
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// ServeRotateToken serves POST /api/v1/device/token: the calling device
// gets a new bearer token, and every token it had, the one it called
// with included, stops working in the same transaction.
func (s *Service) ServeRotateToken(w http.ResponseWriter, r *http.Request) {
	d, err := s.Authenticate(r)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	err = s.cfg.Store.Update(r.Context(), func(tx store.Tx) error {
		return s.cfg.Limits.DeviceWritesPerDevice.Take(r.Context(), tx, d.ID, s.cfg.Now())
	})
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	token, err := s.RotateToken(r.Context(), d.ID, "device "+d.Label)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, &deviceapi.RotateTokenResponse{AccessToken: token, TokenType: "Bearer"})
}

// RotateToken revokes every bearer token of the device with ID deviceID
// and returns a new one; actor is recorded in the owner's audit log.
func (s *Service) RotateToken(ctx context.Context, deviceID, actor string) (string, error) {
	var token string
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		d, err := tx.GetDevice(ctx, deviceID)
		if err != nil {
			return err
		}
		if d.Status != store.StatusActive {
			return problem.UnauthorizedErr("the device is %s", d.Status)
		}
		now := s.cfg.Now()
		n, err := tx.RevokeDeviceTokens(ctx, d.ID, now)
		if err != nil {
			return err
		}
		if token, err = newToken(ctx, tx, d.ID, now); err != nil {
			return err
		}
		return devices.AuditDevice(ctx, tx, d, actor, devices.AuditToken, fmt.Sprintf("bearer token rotated, %d revoked", n))
	})
	if err != nil {
		return "", fmt.Errorf("rotate token: %w", err)
	}
	return token, nil
}

func (s *Service) writeProblem(w http.ResponseWriter, r *http.Request, err error) {
	if p := problem.OrInternal(err); p.Kind == problem.ServerInternal {
		s.log.ErrorContext(r.Context(), "device API request failed", "path", r.URL.Path, "err", err)
	}
	WriteProblem(w, err)
}
