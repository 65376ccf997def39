package acme

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lantls/lantls/attest"
	"github.com/lantls/lantls/ca"
	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
)

// identifierDNS is the only identifier type lantls issues certificates
// for; the device identifiers of draft-ietf-acme-device-attest are proven
// (attest.go), never put in a certificate.
const identifierDNS = "dns"

// newOrder creates an order for names the account's device owns (RFC 8555
// section 7.4), optionally replacing a certificate (RFC 9773).
func (s *Server) newOrder(w http.ResponseWriter, r *http.Request, req *request) error {
	ctx := r.Context()
	var p struct {
		Identifiers []store.Identifier `json:"identifiers"`
		NotBefore   json.RawMessage    `json:"notBefore"`
		NotAfter    json.RawMessage    `json:"notAfter"`
		Profile     string             `json:"profile"`
		Replaces    string             `json:"replaces"`
	}
	if err := decodePayload(req.payload, &p); err != nil {
		return err
	}
	if p.NotBefore != nil || p.NotAfter != nil {
		return problem.MalformedErr("notBefore and notAfter are not supported; use profiles")
	}
	dev, err := s.activeDevice(ctx, req.account)
	if err != nil {
		return err
	}
	ids, err := s.orderIdentifiers(p.Identifiers, dev)
	if err != nil {
		return err
	}
	if err := s.checkAttestRule(ctx, dev, ids); err != nil {
		return err
	}
	profile, err := s.profile(p.Profile)
	if err != nil {
		return err
	}
	var replaces string
	if p.Replaces != "" {
		if replaces, err = s.replaceableSerial(ctx, p.Replaces, dev); err != nil {
			return err
		}
	}

	now := s.clock()
	o := &store.Order{
		ID:          store.NewID(now),
		AccountID:   req.account.ID,
		DeviceID:    dev.ID,
		Identifiers: ids,
		Profile:     profile.Name,
		Replaces:    replaces,
		Expires:     now.Add(orderLifetime),
		CreatedAt:   now,
	}
	authzs := make([]*store.Authorization, 0, len(ids))
	for _, id := range ids {
		var a *store.Authorization
		if isDeviceIdentifier(id.Type) {
			a = newDeviceAuthorization(o, id)
		} else {
			a = s.newAuthorization(o, dev, id.Value, now)
		}
		authzs = append(authzs, a)
		o.AuthorizationIDs = append(o.AuthorizationIDs, a.ID)
	}
	o.Status = statusFromAuthorizations(authzs)

	// The limit and the open orders may be read with the device
	// (PostgreSQL: one round trip).
	store.ExpectLimits(ctx, s.limits.OrdersPerAccount.Key(o.AccountID))
	if s.limits.OpenOrdersPerAccount > 0 {
		store.ExpectOpenOrders(ctx, o.AccountID, now)
	}
	err = s.store.Update(ctx, func(tx store.Tx) error {
		if _, err := checkDevice(ctx, tx, o.DeviceID); err != nil {
			return err
		}
		if err := s.limits.OrdersPerAccount.Take(ctx, tx, o.AccountID, now); err != nil {
			return err
		}
		if err := s.limits.CheckOpenOrders(ctx, tx, o.AccountID, now); err != nil {
			return err
		}
		if replaces != "" {
			if err := s.checkNotReplaced(ctx, tx, replaces, now); err != nil {
				return err
			}
		}
		if err := tx.CreateOrder(ctx, o, authzs); err != nil {
			return fmt.Errorf("create order: %w", err)
		}
		if replaces != "" {
			if err := tx.SetCertificateReplacedBy(ctx, replaces, o.ID); err != nil {
				return fmt.Errorf("record replacement: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.Header().Set("Location", s.orderURL(o.ID))
	return writeJSON(w, http.StatusCreated, s.orderJSON(o, now))
}

// orderIdentifiers checks, normalizes and dedupes the identifiers of a new
// order. Every offending identifier gets its own subproblem.
func (s *Server) orderIdentifiers(ids []store.Identifier, dev *store.Device) ([]store.Identifier, error) {
	if len(ids) == 0 {
		return nil, problem.MalformedErr("an order needs at least one identifier")
	}
	if len(ids) > maxIdentifiers {
		return nil, problem.MalformedErr("an order may have at most %d identifiers", maxIdentifiers)
	}
	var (
		out    []store.Identifier
		seen   = make(map[string]bool, len(ids))
		subs   []*problem.Error
		kinds  = map[problem.Kind]bool{}
		device = names.DeviceName(dev.Label, s.zone)
	)
	reject := func(kind problem.Kind, id store.Identifier, format string, args ...any) {
		sp := problem.New(kind, format, args...)
		sp.Identifier = &problem.Identifier{Type: id.Type, Value: id.Value}
		subs = append(subs, sp)
		kinds[kind] = true
	}
	for _, id := range ids {
		if isDeviceIdentifier(id.Type) {
			// Draft-ietf-acme-device-attest sections 3.1 and 4.1: a value
			// off the ABNF is malformed; values are kept octet for octet.
			if err := attest.ValidIdentifier(id.Type, id.Value); err != nil {
				reject(problem.Malformed, id, "%v", err)
			} else if key := id.Type + " " + id.Value; !seen[key] {
				seen[key] = true
				out = append(out, id)
			}
			continue
		}
		if id.Type != identifierDNS {
			reject(problem.UnsupportedIdentifier, id, "identifier type %q is not supported; only %q, %q and %q are",
				id.Type, identifierDNS, attest.PermanentIdentifier, attest.HardwareModule)
			continue
		}
		name, err := names.Normalize(id.Value)
		if err != nil {
			reject(problem.RejectedIdentifier, id, "%q is not a valid DNS name for a certificate", id.Value)
			continue
		}
		if !names.OwnedBy(name, dev.Label, s.zone) {
			reject(problem.RejectedIdentifier, id, "%q is not a name of this device; it may use %s and names below it", name, device)
			continue
		}
		if !seen[name] {
			seen[name] = true
			out = append(out, store.Identifier{Type: identifierDNS, Value: name})
		}
	}
	if len(subs) == 0 {
		return out, nil
	}
	kind := problem.Compound
	if len(kinds) == 1 {
		kind = subs[0].Kind
	}
	p := problem.New(kind, "%d of the order's identifiers cannot be issued", len(subs))
	p.Subproblems = subs
	return nil, p
}

// profile resolves an order's profile name; "" is the default profile.
func (s *Server) profile(name string) (ca.Profile, error) {
	if name == "" {
		name = ca.DefaultProfile
	}
	p, ok := s.profiles[name]
	if !ok {
		return ca.Profile{}, problem.New(problem.InvalidProfile, "profile %q is not offered; see the directory's meta.profiles", name)
	}
	if p.Name == "" {
		p.Name = name
	}
	return p, nil
}

// replaceableSerial checks an RFC 9773 replaces value and returns the serial
// of the certificate it names, which must belong to dev.
func (s *Server) replaceableSerial(ctx context.Context, certID string, dev *store.Device) (string, error) {
	serial, aki, err := s.parseCertID(certID)
	if err != nil {
		return "", err
	}
	ours := s.ourKeyID(aki)
	if !ours && !ca.IsMetered(s.signer) {
		return "", problem.MalformedErr("replaces names a certificate of another issuer")
	}
	cert, err := s.store.GetCertificate(ctx, serial)
	if errors.Is(err, store.ErrNotFound) {
		return "", problem.NotFoundErr("replaces names an unknown certificate")
	}
	if err != nil {
		return "", fmt.Errorf("get replaced certificate: %w", err)
	}
	if !ours {
		if leaf, err := x509.ParseCertificate(leafDER(cert.ChainPEM)); err != nil || !bytes.Equal(leaf.AuthorityKeyId, aki) {
			return "", problem.MalformedErr("replaces names a certificate of another issuer")
		}
	}
	if cert.DeviceID != dev.ID {
		return "", problem.MalformedErr("replaces names a certificate of another device")
	}
	return serial, nil
}

// checkNotReplaced fails with alreadyReplaced if another order that is not
// invalid already replaces the certificate with serial.
func (s *Server) checkNotReplaced(ctx context.Context, tx store.Tx, serial string, now time.Time) error {
	cert, err := tx.GetCertificate(ctx, serial)
	if err != nil {
		return fmt.Errorf("get replaced certificate: %w", err)
	}
	if cert.ReplacedBy == "" {
		return nil
	}
	prev, err := tx.GetOrder(ctx, cert.ReplacedBy)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get replacing order: %w", err)
	}
	if orderStatus(prev, now) == store.StatusInvalid {
		return nil
	}
	p := problem.New(problem.AlreadyReplaced, "the certificate is already replaced by order %s", s.orderURL(prev.ID))
	p.Location = s.orderURL(prev.ID)
	return p
}

// authzPolicy decides how a device proves control of one of its names: the
// status a new authorization starts in and the challenges it offers.
// Hardware proof is not a policy of the names: it is a device identifier
// of its own in the order, with its own pending authorization (attest.go).
type authzPolicy func(dev *store.Device, id store.Identifier, wildcard bool, now time.Time) (store.Status, []store.Challenge)

// pairingPolicy trusts the pairing: the EAB key that bound the account to
// the device is the proof, so the authorization is valid at once. The
// dns-01 challenge is there for clients that insist on seeing one.
func pairingPolicy(dev *store.Device, id store.Identifier, wildcard bool, now time.Time) (store.Status, []store.Challenge) {
	return store.StatusValid, []store.Challenge{{
		Type:      "dns-01",
		Token:     randomToken(32),
		Status:    store.StatusValid,
		Validated: now,
	}}
}

// newAuthorization makes the authorization of one order name under the
// server's policy; it expires with the order.
func (s *Server) newAuthorization(o *store.Order, dev *store.Device, name string, now time.Time) *store.Authorization {
	value, wildcard := strings.CutPrefix(name, "*.")
	a := &store.Authorization{
		ID:         store.NewID(now),
		AccountID:  o.AccountID,
		OrderID:    o.ID,
		Identifier: store.Identifier{Type: identifierDNS, Value: value},
		Wildcard:   wildcard,
		Expires:    o.Expires,
	}
	a.Status, a.Challenges = s.policy(dev, a.Identifier, wildcard, now)
	return a
}

// statusFromAuthorizations is the status of a new order with authzs.
func statusFromAuthorizations(authzs []*store.Authorization) store.Status {
	status := store.StatusReady
	for _, a := range authzs {
		switch a.Status {
		case store.StatusValid:
		case store.StatusPending:
			status = store.StatusPending
		default:
			return store.StatusInvalid
		}
	}
	return status
}

// orderStatus is o's status as seen at now: an order that expired before it
// was finalized is invalid even before Sweep writes so. A processing order
// past its expiry was left behind by a crash during signing.
func orderStatus(o *store.Order, now time.Time) store.Status {
	switch o.Status {
	case store.StatusPending, store.StatusReady, store.StatusProcessing:
		if !now.Before(o.Expires) {
			return store.StatusInvalid
		}
	}
	return o.Status
}

// authorizationStatus is a's status as seen at now.
func authorizationStatus(a *store.Authorization, now time.Time) store.Status {
	switch a.Status {
	case store.StatusPending, store.StatusValid:
		if !now.Before(a.Expires) {
			return store.StatusExpired
		}
	}
	return a.Status
}

// order serves an order by POST-as-GET (RFC 8555 section 7.4).
func (s *Server) order(w http.ResponseWriter, r *http.Request, req *request) error {
	if err := postAsGet(req); err != nil {
		return err
	}
	o, err := s.ownOrder(r.Context(), req, r.PathValue("id"))
	if err != nil {
		return err
	}
	j := s.orderJSON(o, s.clock())
	if j.Status == store.StatusProcessing {
		w.Header().Set("Retry-After", strconv.Itoa(int(processingRetry/time.Second)))
	}
	return writeJSON(w, http.StatusOK, j)
}

// ownOrder loads an order of the account that signed req.
func (s *Server) ownOrder(ctx context.Context, req *request, id string) (*store.Order, error) {
	o, err := s.store.GetOrder(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, problem.NotFoundErr("order %s does not exist", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get order: %w", err)
	}
	if err := sameAccount(req, o.AccountID); err != nil {
		return nil, err
	}
	return o, nil
}

// activeDevice loads the device of acct, which must be active. Read
// through the store it may come from a cache a moment behind a revocation
// made by another process (store/sqlite's row cache); the writes that
// create orders and record certificates check again with checkDevice in
// their transaction.
func (s *Server) activeDevice(ctx context.Context, acct *store.Account) (*store.Device, error) {
	return checkDevice(ctx, s.store, acct.DeviceID)
}

// checkDevice loads the device with id through r (the Store, or a
// transaction), which must be active.
func checkDevice(ctx context.Context, r store.Tx, id string) (*store.Device, error) {
	dev, err := r.GetDevice(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("get device: %w", err)
	}
	if dev.Status != store.StatusActive {
		return nil, problem.UnauthorizedErr("the account's device is %s", dev.Status)
	}
	return dev, nil
}
