package acme

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lantls/lantls/ca"
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
	cert, err := s.certByID(r.Context(), r.PathValue("certID"))
	if err != nil {
		return err
	}
	w.Header().Set("Retry-After", strconv.Itoa(int(renewalRetryAfter/time.Second)))
	return writeJSON(w, http.StatusOK, renewalInfoJSON{SuggestedWindow: s.window(r.Context(), cert)})
}

// window is the renewal window of cert: open now for one signed here
// whose extra names are no longer the device's (namesOutdated); the
// upstream CA's, for a certificate it signed and a signer that asks it
// (ca.RenewalAdvisor); or else renewalWindow's.
func (s *Server) window(ctx context.Context, cert *store.Certificate) windowJSON {
	now := s.clock()
	if cert.Revoked() {
		return renewalWindow(cert, now)
	}
	der := leafDER(cert.ChainPEM)
	leaf, err := x509.ParseCertificate(der)
	here := err == nil && s.signedHere(leaf)
	if here && s.namesOutdated(ctx, cert, leaf) {
		return windowJSON{Start: now.Add(-time.Minute), End: now.Add(revokedWindow)}
	}
	ra, ok := s.signer.(ca.RenewalAdvisor)
	if !ok || err != nil || here {
		return renewalWindow(cert, now)
	}
	start, end, err := ra.RenewalWindow(ctx, der)
	if err != nil {
		s.log.WarnContext(ctx, "acme upstream renewal info unavailable; answering from the lifetime", "serial", cert.Serial, "err", err)
		return renewalWindow(cert, now)
	}
	return windowJSON{Start: start, End: end}
}

// certByID loads the certificate an RFC 9773 certID names: its key
// identifier must be this server's issuer's, or the one in the stored
// certificate (an upstream CA's).
func (s *Server) certByID(ctx context.Context, certID string) (*store.Certificate, error) {
	serial, aki, err := s.parseCertID(certID)
	if err != nil {
		return nil, err
	}
	ours := s.ourKeyID(aki)
	if !ours && !ca.IsMetered(s.signer) {
		return nil, problem.NotFoundErr("certID names a certificate of another issuer")
	}
	cert, err := s.storedCertificate(ctx, serial)
	if err != nil {
		return nil, err
	}
	if !ours {
		leaf, err := x509.ParseCertificate(leafDER(cert.ChainPEM))
		if err != nil || !bytes.Equal(leaf.AuthorityKeyId, aki) {
			return nil, problem.NotFoundErr("certID names a certificate of another issuer")
		}
	}
	return cert, nil
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
// spells it and the key identifier.
func (s *Server) parseCertID(certID string) (serial string, aki []byte, err error) {
	akiPart, serialPart, ok := strings.Cut(certID, ".")
	if !ok || akiPart == "" || serialPart == "" {
		return "", nil, problem.MalformedErr("certID must be base64url(key identifier).base64url(serial)")
	}
	aki, err = base64.RawURLEncoding.DecodeString(akiPart)
	if err != nil {
		return "", nil, problem.MalformedErr("certID key identifier is not base64url")
	}
	// encoding/base64 skips CR and LF, so a part of only those decodes
	// to nothing: refuse them, and an empty serial, outright.
	if strings.ContainsAny(certID, "\r\n") {
		return "", nil, problem.MalformedErr("certID must be base64url(key identifier).base64url(serial)")
	}
	sb, err := base64.RawURLEncoding.DecodeString(serialPart)
	if err != nil || len(sb) == 0 {
		return "", nil, problem.MalformedErr("certID serial is not base64url")
	}
	if sb[0]&0x80 != 0 {
		return "", nil, problem.MalformedErr("certID serial is negative")
	}
	return fmt.Sprintf("%x", new(big.Int).SetBytes(sb)), aki, nil
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
	return b64(s.issuers()[0].SubjectKeyId) + "." + b64(b)
}
