package acme

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
)

// revokedWindow is how long the renewal window of a revoked certificate
// stays open from now: it has already started, so clients renew at once.
const revokedWindow = 10 * time.Minute

// renewalInfo serves ARI (RFC 9773): when a certificate should be renewed.
// The window is the second-to-last sixth of the lifetime, from a third to a
// sixth of it before expiry; a revoked certificate's window is open now.
func (s *Server) renewalInfo(w http.ResponseWriter, r *http.Request) error {
	serial, ours, err := s.parseCertID(r.PathValue("certID"))
	if err != nil {
		return err
	}
	if !ours {
		return problem.NotFoundErr("certID names a certificate of another issuer")
	}
	cert, err := s.storedCertificate(r.Context(), serial)
	if err != nil {
		return err
	}
	w.Header().Set("Retry-After", strconv.Itoa(int(renewalRetryAfter/time.Second)))
	return writeJSON(w, http.StatusOK, renewalInfoJSON{SuggestedWindow: renewalWindow(cert, s.clock())})
}

func renewalWindow(c *store.Certificate, now time.Time) windowJSON {
	if c.Revoked() {
		return windowJSON{Start: now.Add(-time.Minute), End: now.Add(revokedWindow)}
	}
	life := c.NotAfter.Sub(c.NotBefore)
	return windowJSON{Start: c.NotAfter.Add(-life / 3), End: c.NotAfter.Add(-life / 6)}
}

// parseCertID reads an RFC 9773 certID, base64url(AKI keyIdentifier) "."
// base64url(DER serial number bytes), and returns the serial as the store
// spells it and whether the key identifier is this server's issuer's.
func (s *Server) parseCertID(certID string) (serial string, ours bool, err error) {
	akiPart, serialPart, ok := strings.Cut(certID, ".")
	if !ok || akiPart == "" || serialPart == "" {
		return "", false, problem.MalformedErr("certID must be base64url(key identifier).base64url(serial)")
	}
	aki, err := base64.RawURLEncoding.DecodeString(akiPart)
	if err != nil {
		return "", false, problem.MalformedErr("certID key identifier is not base64url")
	}
	sb, err := base64.RawURLEncoding.DecodeString(serialPart)
	if err != nil {
		return "", false, problem.MalformedErr("certID serial is not base64url")
	}
	if sb[0]&0x80 != 0 {
		return "", false, problem.MalformedErr("certID serial is negative")
	}
	return fmt.Sprintf("%x", new(big.Int).SetBytes(sb)), bytes.Equal(aki, s.issuer.SubjectKeyId), nil
}

// certID is the RFC 9773 certID of a certificate of ours with serial
// (lowercase hex).
func (s *Server) certID(serial string) string {
	n, ok := new(big.Int).SetString(serial, 16)
	if !ok {
		return ""
	}
	b := n.Bytes()
	if len(b) == 0 || b[0]&0x80 != 0 {
		b = append([]byte{0}, b...)
	}
	return b64(s.issuer.SubjectKeyId) + "." + b64(b)
}
