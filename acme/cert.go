package acme

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/lantls/lantls/acme/jws"
	"github.com/lantls/lantls/ca"
	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
)

// RFC 5280 reason codes that revokeCert accepts. The others are either for
// CAs (cACompromise, privilegeWithdrawn, aACompromise), for CRL mechanics
// (certificateHold, removeFromCRL), or unassigned.
const (
	reasonUnspecified          = 0
	reasonKeyCompromise        = 1
	reasonAffiliationChanged   = 3
	reasonSuperseded           = 4
	reasonCessationOfOperation = 5
)

// certificate serves an issued chain by POST-as-GET (RFC 8555 section
// 7.4.2) to any account of the device it was issued to.
func (s *Server) certificate(w http.ResponseWriter, r *http.Request, req *request) error {
	if err := postAsGet(req); err != nil {
		return err
	}
	cert, err := s.storedCertificate(r.Context(), r.PathValue("serial"))
	if err != nil {
		return err
	}
	if cert.DeviceID != req.account.DeviceID {
		return problem.UnauthorizedErr("the certificate belongs to another device")
	}
	// The body is the whole chain, leaf to intermediate, so there is no
	// Link rel="up" to the issuer's certificate: RFC 8555 section 7.4.2
	// does not ask for one, and clients that follow every Link with
	// POST-as-GET (Caddy) would fetch a plain file that only answers GET.
	// There are no alternate chains; rel="index" comes with every response.
	w.Header().Set("Content-Type", contentTypePEM)
	w.WriteHeader(http.StatusOK)
	w.Write(cert.ChainPEM)
	return nil
}

// revokeCert revokes a certificate (RFC 8555 section 7.6), asked either by
// an account of the certificate's device (kid) or by the holder of the
// certificate's key (jwk).
func (s *Server) revokeCert(w http.ResponseWriter, r *http.Request, req *request) error {
	ctx := r.Context()
	var p struct {
		Certificate string `json:"certificate"`
		Reason      *int   `json:"reason"`
	}
	if err := decodePayload(req.payload, &p); err != nil {
		return err
	}
	der, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(p.Certificate, "="))
	if err != nil || len(der) == 0 {
		return problem.MalformedErr("certificate is not base64url DER")
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return problem.MalformedErr("certificate cannot be parsed")
	}
	cert, err := s.storedCertificate(ctx, fmt.Sprintf("%x", leaf.SerialNumber))
	if err != nil {
		return err
	}
	if !bytes.Equal(leafDER(cert.ChainPEM), der) {
		return problem.NotFoundErr("certificate was not issued by this server")
	}
	reason := reasonUnspecified
	if p.Reason != nil {
		reason = *p.Reason
	}
	switch reason {
	case reasonUnspecified, reasonKeyCompromise, reasonAffiliationChanged, reasonSuperseded, reasonCessationOfOperation:
	default:
		return problem.New(problem.BadRevocationReason, "reason %d is not allowed; use 0, 1, 3, 4 or 5", reason)
	}
	if err := s.mayRevoke(req, cert, leaf); err != nil {
		return err
	}
	if cert.Revoked() {
		return problem.New(problem.AlreadyRevoked, "certificate is already revoked")
	}
	// A certificate from an upstream CA is revoked there first: recording
	// a revocation the CA never heard of would leave it trusted.
	if rv, ok := s.signer.(ca.Revoker); ok && !s.signedHere(leaf) {
		if err := rv.Revoke(ctx, der, reason); err != nil {
			return err
		}
	}
	err = s.store.Update(ctx, func(tx store.Tx) error {
		if err := tx.RevokeCertificate(ctx, cert.Serial, reason, s.clock()); err != nil {
			return err
		}
		return audit(ctx, tx, cert.DeviceID, revoker(req), devices.AuditRevoke,
			fmt.Sprintf("certificate %s, reason %s", cert.Serial, reasonName(reason)))
	})
	if errors.Is(err, store.ErrConflict) {
		return problem.New(problem.AlreadyRevoked, "certificate is already revoked")
	}
	if err != nil {
		return fmt.Errorf("revoke certificate: %w", err)
	}
	s.metrics.revoke(reason)
	s.log.InfoContext(ctx, "acme certificate revoked", "serial", cert.Serial, "reason", reasonName(reason), "device", cert.DeviceID)
	w.WriteHeader(http.StatusOK)
	return nil
}

// mayRevoke checks who asks: an account of the certificate's device, or
// whoever holds the certificate's private key.
func (s *Server) mayRevoke(req *request, cert *store.Certificate, leaf *x509.Certificate) error {
	if req.account != nil {
		if req.account.DeviceID != cert.DeviceID {
			return problem.UnauthorizedErr("the certificate belongs to another device")
		}
		return nil
	}
	tp, err := jws.PublicKeyThumbprint(leaf.PublicKey)
	if err != nil || tp != req.thumbprint {
		return problem.UnauthorizedErr("the JWS key is not the certificate's key")
	}
	return nil
}

// storedCertificate loads a certificate by serial.
func (s *Server) storedCertificate(ctx context.Context, serial string) (*store.Certificate, error) {
	cert, err := s.store.GetCertificate(ctx, serial)
	if errors.Is(err, store.ErrNotFound) {
		return nil, problem.NotFoundErr("certificate %s does not exist", serial)
	}
	if err != nil {
		return nil, fmt.Errorf("get certificate: %w", err)
	}
	return cert, nil
}

// leafDER returns the DER of the first certificate in a PEM chain.
func leafDER(chain []byte) []byte {
	b, _ := pem.Decode(chain)
	if b == nil {
		return nil
	}
	return b.Bytes
}

// signedHere reports whether leaf was signed by this server's own issuer
// rather than by an upstream CA.
func (s *Server) signedHere(leaf *x509.Certificate) bool {
	return s.ourKeyID(leaf.AuthorityKeyId)
}

// ourKeyID reports whether aki is the key identifier of an issuer of this
// server, the current one or one it had before.
func (s *Server) ourKeyID(aki []byte) bool {
	for _, c := range s.issuers() {
		if bytes.Equal(aki, c.SubjectKeyId) {
			return true
		}
	}
	return false
}
