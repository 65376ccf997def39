package deviceserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/lantls/lantls/deviceapi"
	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/store"
)

// servePolicy serves GET deviceapi.PathPolicy: the calling device's
// origin grants, revoked serials and extra names, with a strong ETag of
// the body and Cache-Control, so a device that polls gets 304 Not
// Modified until something changes.
func (s *Server) servePolicy(w http.ResponseWriter, r *http.Request, d *store.Device) error {
	ctx := r.Context()
	g, err := s.cfg.Store.GetGrants(ctx, d.ID)
	if err != nil {
		return err
	}
	revoked, err := s.revokedSerials(ctx, d.ID)
	if err != nil {
		return err
	}
	extra, err := s.extraNames(ctx, d.ID)
	if err != nil {
		return err
	}
	body, err := json.Marshal(&deviceapi.Policy{Label: d.Label, Origins: g.Origins, Revoked: revoked, Names: extra})
	if err != nil {
		return err
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
		return nil
	}
	h.Set("Content-Type", "application/json")
	w.Write(append(body, '\n'))
	return nil
}

// extraNames lists the names the owner gave the device that the signer
// adds to its certificates (Config.AddsName), none without a signer that
// adds names.
func (s *Server) extraNames(ctx context.Context, deviceID string) ([]string, error) {
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
func (s *Server) revokedSerials(ctx context.Context, deviceID string) ([]string, error) {
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
