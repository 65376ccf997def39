package acme

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/lantls/lantls/attest"
	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
)

// Device attestation (draft-ietf-acme-device-attest): an order may carry
// one device identifier (permanent-identifier or hardware-module) besides
// the device's DNS names. Its authorization is pending with a
// device-attest-01 challenge, which the client answers with
// {"attObj": base64url(CBOR)}; package attest verifies the statement. The
// DNS names stay proven by the pairing. Whether a device may, or must,
// attest is the rule of its model (store.AttestPolicy).

// challengeDeviceAttest is the draft's challenge type (section 5).
const challengeDeviceAttest = "device-attest-01"

// isDeviceIdentifier reports whether typ is one of the draft's identifier
// types (sections 3 and 4).
func isDeviceIdentifier(typ string) bool {
	return typ == attest.PermanentIdentifier || typ == attest.HardwareModule
}

// attestRule is the rule for dev's model: the one an admin set, else
// optional on an issuer with attestation roots and off on one without.
func (s *Server) attestRule(ctx context.Context, r store.Tx, dev *store.Device) (store.AttestRule, error) {
	p, err := r.GetAttestPolicy(ctx, dev.Model)
	switch {
	case err == nil:
		return p.Rule, nil
	case !errors.Is(err, store.ErrNotFound):
		return "", fmt.Errorf("get attestation rule: %w", err)
	case s.attest != nil:
		return store.AttestOptional, nil
	}
	return store.AttestOff, nil
}

// checkAttestRule applies dev's rule to the identifiers of a new order.
func (s *Server) checkAttestRule(ctx context.Context, dev *store.Device, ids []store.Identifier) error {
	var device []store.Identifier
	for _, id := range ids {
		if isDeviceIdentifier(id.Type) {
			device = append(device, id)
		}
	}
	if len(device) > 1 {
		return problem.MalformedErr("an order may carry one device identifier (permanent-identifier or hardware-module), not %d", len(device))
	}
	rule, err := s.attestRule(ctx, s.store, dev)
	if err != nil {
		return err
	}
	switch {
	case rule == store.AttestOff && len(device) == 1:
		// The identifier in a subproblem (RFC 8555 section 6.7.1), where
		// clients look for it, tells an agent to order again without it.
		const detail = "this issuer does not attest devices of model %q; order without the %s identifier"
		sp := problem.RejectedIdentifierErr(detail, dev.Model, device[0].Type)
		sp.Identifier = &problem.Identifier{Type: device[0].Type, Value: device[0].Value}
		p := problem.RejectedIdentifierErr(detail, dev.Model, device[0].Type)
		p.Subproblems = []*problem.Error{sp}
		return p
	case rule == store.AttestRequired && len(device) == 0:
		return attestRequired(dev)
	}
	return nil
}

// attestRequired is the problem for an order of a device whose model must
// attest but that does not carry the identifier to attest.
func attestRequired(dev *store.Device) *problem.Error {
	return problem.RejectedIdentifierErr("devices of model %q must prove their key in hardware: add a permanent-identifier "+
		"or hardware-module identifier to the order and answer its device-attest-01 challenge (draft-ietf-acme-device-attest)", dev.Model)
}

// newDeviceAuthorization is the pending authorization of a device
// identifier, with its device-attest-01 challenge. The token is 256
// random bits in base64url (draft section 8 asks at least 128).
func newDeviceAuthorization(o *store.Order, id store.Identifier) *store.Authorization {
	return &store.Authorization{
		ID:         store.NewID(o.CreatedAt),
		AccountID:  o.AccountID,
		OrderID:    o.ID,
		Identifier: id,
		Status:     store.StatusPending,
		Expires:    o.Expires,
		Challenges: []store.Challenge{{Type: challengeDeviceAttest, Token: randomToken(32), Status: store.StatusPending}},
	}
}

// answerDeviceAttest verifies a client's answer to a device-attest-01
// challenge (draft section 5): the statement must verify against the
// issuer's roots for this challenge's key authorization and prove the
// authorization's identifier. Success makes the challenge and its
// authorization valid (and the order ready when nothing else is pending)
// and records the attestation; failure makes them and the order invalid
// and answers badAttestationStatement with the reason.
func (s *Server) answerDeviceAttest(w http.ResponseWriter, r *http.Request, req *request, a *store.Authorization, c *store.Challenge) error {
	ctx := r.Context()
	var p struct {
		AttObj string `json:"attObj"`
	}
	if err := decodePayload(req.payload, &p); err != nil {
		return err
	}
	now := s.clock()
	if authorizationStatus(a, now) != store.StatusPending || c.Status != store.StatusPending {
		// Answered before (or expired): the result stands.
		w.Header().Add("Link", "<"+s.authzURL(a.ID)+`>;rel="up"`)
		return writeJSON(w, http.StatusOK, s.challengeJSON(a, c))
	}
	if p.AttObj == "" {
		return problem.MalformedErr("a device-attest-01 answer needs attObj, the base64url WebAuthn attestation object")
	}
	dev, err := s.activeDevice(ctx, req.account)
	if err != nil {
		return err
	}
	// Section 5: the key authorization of the token and the account key
	// that sends the answer.
	keyAuth := c.Token + "." + req.account.KeyThumbprint
	res, verr := s.verifyStatement(p.AttObj, keyAuth, a.Identifier)
	if verr != nil {
		bad := problem.New(problem.BadAttestationStatement, "%v", verr)
		bad.Identifier = &problem.Identifier{Type: a.Identifier.Type, Value: a.Identifier.Value}
		if err := s.recordAttestation(ctx, a.ID, c.Type, dev, nil, bad, req.account.ID); err != nil && !errors.Is(err, store.ErrConflict) {
			return err
		}
		s.log.InfoContext(ctx, "acme device attestation refused", "device", dev.ID, "authz", a.ID, "detail", bad.Detail)
		return bad
	}
	// A conflict is a concurrent answer that moved the order first (store
	// instances sharing PostgreSQL): the authorization as it now is is
	// the answer.
	if err := s.recordAttestation(ctx, a.ID, c.Type, dev, res, nil, req.account.ID); err != nil && !errors.Is(err, store.ErrConflict) {
		return err
	}
	s.log.InfoContext(ctx, "acme device attested", "device", dev.ID, "authz", a.ID, "format", res.Format,
		"root", res.Root.Subject.String())
	cur, err := s.store.GetAuthorization(ctx, a.ID)
	if err != nil {
		return fmt.Errorf("get authorization: %w", err)
	}
	for i := range cur.Challenges {
		if cur.Challenges[i].Type == c.Type {
			w.Header().Add("Link", "<"+s.authzURL(a.ID)+`>;rel="up"`)
			return writeJSON(w, http.StatusOK, s.challengeJSON(cur, &cur.Challenges[i]))
		}
	}
	return errors.New("challenge vanished")
}

// verifyStatement decodes and verifies attObj for keyAuth, and checks that
// it proves id (draft section 5, steps 1 to 3).
func (s *Server) verifyStatement(attObj, keyAuth string, id store.Identifier) (*attest.Result, error) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(attObj, "="))
	if err != nil {
		return nil, errors.New("attObj is not base64url")
	}
	if s.attest == nil {
		return nil, errors.New("this issuer has no attestation roots configured, so it cannot verify any statement")
	}
	res, err := s.attest.Verify(raw, keyAuth)
	if err != nil {
		return nil, err
	}
	if !res.Proves(id.Type, id.Value) {
		proven := append(append([]string{}, res.PermanentIdentifiers...), res.HardwareModules...)
		return nil, fmt.Errorf("the statement's certificate proves %q, not the order's %s %q", proven, id.Type, id.Value)
	}
	if _, err := x509.MarshalPKIXPublicKey(res.Key); err != nil {
		return nil, fmt.Errorf("the attested key cannot be used: %v", err)
	}
	return res, nil
}

// recordAttestation writes the outcome of a device-attest-01 answer in one
// transaction: res on success, bad on failure. An authorization that is
// no longer pending (a concurrent answer) is left as it is.
func (s *Server) recordAttestation(ctx context.Context, authzID, typ string, dev *store.Device, res *attest.Result, bad *problem.Error, accountID string) error {
	ctx = context.WithoutCancel(ctx)
	now := s.clock()
	return s.store.Update(ctx, func(tx store.Tx) error {
		a, err := tx.GetAuthorization(ctx, authzID)
		if err != nil {
			return fmt.Errorf("get authorization: %w", err)
		}
		if authorizationStatus(a, now) != store.StatusPending {
			return nil
		}
		c := &a.Challenges[0]
		for i := range a.Challenges {
			if a.Challenges[i].Type == typ {
				c = &a.Challenges[i]
			}
		}
		o, err := tx.GetOrder(ctx, a.OrderID)
		if err != nil {
			return fmt.Errorf("get order: %w", err)
		}
		actor := "acme account " + accountID
		if bad != nil {
			c.Status, c.Error, a.Status = store.StatusInvalid, bad, store.StatusInvalid
			if err := tx.UpdateAuthorization(ctx, a); err != nil {
				return fmt.Errorf("update authorization: %w", err)
			}
			// RFC 8555 section 7.1.6: an order with an invalid
			// authorization is invalid.
			if orderStatus(o, now) == store.StatusPending {
				o.Status, o.Error = store.StatusInvalid, bad
				if err := tx.UpdateOrder(ctx, o, store.StatusPending); err != nil {
					return fmt.Errorf("mark order invalid: %w", err)
				}
			}
			return devices.AuditDevice(ctx, tx, dev, actor, devices.AuditAttestFailed,
				fmt.Sprintf("%s %s: %s", a.Identifier.Type, a.Identifier.Value, bad.Detail))
		}
		spki, _ := x509.MarshalPKIXPublicKey(res.Key)
		c.Status, c.Validated, c.AttestedKey, a.Status = store.StatusValid, now, spki, store.StatusValid
		if err := tx.UpdateAuthorization(ctx, a); err != nil {
			return fmt.Errorf("update authorization: %w", err)
		}
		if err := s.readyIfAuthorized(ctx, tx, o, now); err != nil {
			return err
		}
		if err := tx.SetDeviceAttestation(ctx, &store.DeviceAttestation{
			DeviceID: dev.ID, Format: res.Format, Root: res.Root.Subject.String(), RootFingerprint: res.RootFingerprint(),
			Model: dev.Model, Identifier: a.Identifier, AttestedAt: now,
		}); err != nil {
			return err
		}
		return devices.AuditDevice(ctx, tx, dev, actor, devices.AuditAttest,
			fmt.Sprintf("%s statement for %s %s, root %s (SHA-256 %s)", res.Format, a.Identifier.Type, a.Identifier.Value,
				res.Root.Subject, res.RootFingerprint()))
	})
}

// readyIfAuthorized moves a pending order to ready once every one of its
// authorizations is valid (RFC 8555 section 7.1.6).
func (s *Server) readyIfAuthorized(ctx context.Context, tx store.Tx, o *store.Order, now time.Time) error {
	if orderStatus(o, now) != store.StatusPending {
		return nil
	}
	for _, id := range o.AuthorizationIDs {
		a, err := tx.GetAuthorization(ctx, id)
		if err != nil {
			return fmt.Errorf("get authorization: %w", err)
		}
		if authorizationStatus(a, now) != store.StatusValid {
			return nil
		}
	}
	o.Status = store.StatusReady
	if err := tx.UpdateOrder(ctx, o, store.StatusPending); err != nil {
		return fmt.Errorf("mark order ready: %w", err)
	}
	return nil
}

// checkAttestedKey is finalize's part of the draft (section 8): when the
// order attested a device, the request's key must be the attested key;
// when the device's model must attest, the order must have attested.
func (s *Server) checkAttestedKey(ctx context.Context, o *store.Order, dev *store.Device, key crypto.PublicKey) error {
	var attested [][]byte
	for _, id := range o.AuthorizationIDs {
		a, err := s.store.GetAuthorization(ctx, id)
		if err != nil {
			return fmt.Errorf("get authorization: %w", err)
		}
		if !isDeviceIdentifier(a.Identifier.Type) {
			continue
		}
		for _, c := range a.Challenges {
			if c.Type == challengeDeviceAttest && c.Status == store.StatusValid {
				attested = append(attested, c.AttestedKey)
			}
		}
	}
	if len(attested) == 0 {
		rule, err := s.attestRule(ctx, s.store, dev)
		if err != nil {
			return err
		}
		if rule == store.AttestRequired {
			return attestRequired(dev)
		}
		return nil
	}
	spki, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		return problem.BadCSRErr("the csr's key cannot be encoded")
	}
	for _, k := range attested {
		if !bytes.Equal(k, spki) {
			return problem.New(problem.BadAttestationStatement,
				"the csr's key is not the key the device attested; request the certificate for the attested key")
		}
	}
	return nil
}
