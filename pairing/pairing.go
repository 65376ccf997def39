// Package pairing is the issuer's side of the OAuth 2.0 device
// authorization grant (RFC 8628): a device asks to pair with its ACME
// account key and gets a user code; its owner, logged in to the issuer,
// enters the code and approves (or denies); the device, polling, then
// collects a bearer token for the device API (made by package
// deviceserver, which serves that API) and an EAB key bound to its account
// key. The endpoints are in http.go; the owner UI and `lantls admin pair`
// call Lookup, Approve, Deny and List.
package pairing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/ratelimit"
	"github.com/lantls/lantls/store"
)

// Config configures a Service. Zero fields have the defaults written
// beside them.
type Config struct {
	Store store.Store
	Zone  string // the issuer's DNS zone, as normalized by names.Normalize
	// BaseURL is how devices and browsers reach the issuer, e.g.
	// https://issuer.lan:8443; the ACME directory is under it at
	// /acme/directory and the owner's code entry page at /device.
	BaseURL string
	// Limits: FailedPairingsPerSource (unknown device codes count here,
	// as failed EAB bindings do), FailedCodesPerSource and
	// FailedCodesPerUser (wrong user codes entered by owners), and
	// PairingsPerSource.
	Limits ratelimit.Limits
	// MaxDevicesPerOwner bounds the active devices an approval may leave
	// an owner with; 0 means no limit.
	MaxDevicesPerOwner int
	Expiry             time.Duration // of a device code; 0 means 10 minutes
	Interval           time.Duration // between polls; 0 means 1 s
	Logger             *slog.Logger  // nil discards
	Now                func() time.Time
}

// Default timing of a pairing.
const (
	DefaultExpiry   = 10 * time.Minute
	DefaultInterval = time.Second
	// CollectGrace is how long after an approval the device may still
	// collect its credentials, if the device code would expire sooner.
	CollectGrace = time.Minute
	// SlowDownStep is what each slow_down adds to a pairing's interval
	// (RFC 8628 section 3.5).
	SlowDownStep = 5 * time.Second
)

// VerificationPath is where the owner enters a code; UserCodeParam is the
// query parameter of verification_uri_complete that prefills it.
const (
	VerificationPath = "/device"
	UserCodeParam    = "user_code"
)

// Service runs pairings. Make one with New.
type Service struct {
	cfg Config
	log *slog.Logger
}

// New checks cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("pairing: no store")
	}
	if cfg.Zone == "" || cfg.BaseURL == "" {
		return nil, errors.New("pairing: zone and base URL are required")
	}
	cfg.BaseURL = strings.TrimSuffix(cfg.BaseURL, "/")
	if cfg.Expiry <= 0 {
		cfg.Expiry = DefaultExpiry
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, log: log}, nil
}

// Errors of Lookup, Approve and Deny. A code that matches no pairing
// counts against the caller's failed-code limits (see WithRequester); one
// that matches an expired or decided pairing does not.
var (
	ErrNoCode  = errors.New("no pairing has this code: check it on the device")
	ErrExpired = errors.New("this code has expired: start pairing again on the device")
	ErrDecided = errors.New("this code was already approved or denied")
	// ErrPaired is Approve's error for a key that paired before: the
	// device must make a new account key (`lantls agent reset`).
	ErrPaired = errors.New("a device with this key is already paired: reset the device to pair it again")
)

type requesterKey struct{}

// requester is who enters codes, for the failed-code limits.
type requester struct{ source, user string }

// WithRequester returns ctx carrying who enters codes: the client address
// (host:port or a bare address) and the user's ID. Lookup, Approve and
// Deny count wrong codes against FailedCodesPerSource for the source and
// FailedCodesPerUser for the user; without WithRequester both are counted
// in one bucket shared by every such caller.
func WithRequester(ctx context.Context, source, user string) context.Context {
	return context.WithValue(ctx, requesterKey{}, requester{source: ratelimit.SourceKey(source), user: user})
}

func requesterOf(ctx context.Context) requester {
	r, _ := ctx.Value(requesterKey{}).(requester)
	return r
}

// Lookup returns the pending pairing whose user code is userCode (any
// case, with or without the dash), for the owner to check the model,
// hostname, key fingerprint (Label) and source before deciding.
func (s *Service) Lookup(ctx context.Context, userCode string) (*store.Pairing, error) {
	return s.find(ctx, s.cfg.Store, userCode)
}

// find returns the pending pairing of userCode, read through tx, after
// counting a wrong code against the caller's limits; a right code gets
// its count back. The count is taken first, in a write of its own (so tx
// must not be inside Update): checked first and taken after, a burst of
// concurrent wrong codes would all pass the check.
func (s *Service) find(ctx context.Context, tx store.Tx, userCode string) (*store.Pairing, error) {
	now := s.cfg.Now()
	req := requesterOf(ctx)
	if err := s.cfg.Store.Update(ctx, func(tx store.Tx) error { return s.takeLimits(ctx, tx, req, now) }); err != nil {
		return nil, err
	}
	code, ok := NormalizeUserCode(userCode)
	var p *store.Pairing
	if ok {
		var err error
		p, err = tx.GetPairingByUserCode(ctx, hash(code))
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("look up pairing: %w", err)
		}
	}
	if p == nil || !sameCode(p.UserCode, code) {
		return nil, ErrNoCode
	}
	s.refundLimits(ctx, req, now)
	switch {
	case p.Expired(now):
		return nil, ErrExpired
	case p.Status != store.StatusPending:
		return nil, ErrDecided
	}
	return p, nil
}

// pending reads the pairing with ID id again inside tx, where a decision
// is made, and checks that it is still pending.
func (s *Service) pending(ctx context.Context, tx store.Tx, id string) (*store.Pairing, error) {
	p, err := tx.GetPairing(ctx, id)
	switch {
	case err != nil:
		return nil, fmt.Errorf("get pairing: %w", err)
	case p.Expired(s.cfg.Now()):
		return nil, ErrExpired
	case p.Status != store.StatusPending:
		return nil, ErrDecided
	}
	return p, nil
}

// takeLimits counts a wrong code against the requester's limits.
func (s *Service) takeLimits(ctx context.Context, tx store.Tx, req requester, now time.Time) error {
	if err := s.cfg.Limits.FailedCodesPerSource.Take(ctx, tx, req.source, now); err != nil {
		return err
	}
	return s.cfg.Limits.FailedCodesPerUser.Take(ctx, tx, req.user, now)
}

// refundLimits gives back what takeLimits counted, for a right code; one
// that cannot be written leaves the count, which errs on the safe side.
func (s *Service) refundLimits(ctx context.Context, req requester, now time.Time) {
	err := s.cfg.Store.Update(context.WithoutCancel(ctx), func(tx store.Tx) error {
		if err := s.cfg.Limits.FailedCodesPerSource.Refund(ctx, tx, req.source, now); err != nil {
			return err
		}
		return s.cfg.Limits.FailedCodesPerUser.Refund(ctx, tx, req.user, now)
	})
	if err != nil {
		s.log.ErrorContext(ctx, "pairing cannot refund a right code", "err", err)
	}
}

// Approve approves the pending pairing of userCode for the owner ownerID:
// it makes the device (named after the hostname the device reported, owned
// by ownerID, labelled and bound by the device's key) and records actor's
// approval in the owner's audit log. The device then collects its
// credentials at the token endpoint.
func (s *Service) Approve(ctx context.Context, userCode, ownerID, actor string) error {
	if ownerID == "" {
		return errors.New("approve pairing: no owner")
	}
	found, err := s.find(ctx, s.cfg.Store, userCode)
	if err != nil {
		return fmt.Errorf("approve pairing: %w", err)
	}
	var (
		p   *store.Pairing
		dev *store.Device
	)
	err = s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		var err error
		if p, err = s.pending(ctx, tx, found.ID); err != nil {
			return err
		}
		if _, err := tx.GetOwner(ctx, ownerID); err != nil {
			return fmt.Errorf("owner: %w", err)
		}
		now := s.cfg.Now()
		dev, err = devices.AddPaired(ctx, tx, ownerID, deviceName(p), p.Model, p.Label, p.KeyThumbprint, s.cfg.MaxDevicesPerOwner, now)
		if errors.Is(err, store.ErrConflict) {
			return ErrPaired
		}
		if err != nil {
			return err
		}
		p.Status, p.OwnerID, p.DeviceID, p.Actor, p.DecidedAt = store.StatusApproved, ownerID, dev.ID, actor, now
		// However late the owner approved, the device has a while to
		// collect its credentials: an approval it cannot collect would
		// leave a device whose key can never pair again.
		if collect := now.Add(CollectGrace); p.Expires.Before(collect) {
			p.Expires = collect
		}
		if err := tx.UpdatePairing(ctx, p, store.StatusPending); err != nil {
			return decisionConflict(err)
		}
		return devices.AuditDevice(ctx, tx, dev, actor, devices.AuditApprove,
			fmt.Sprintf("code %s, model %q, hostname %q, from %s", FormatUserCode(p.UserCode), p.Model, p.Hostname, p.Source))
	})
	if err != nil {
		return fmt.Errorf("approve pairing: %w", err)
	}
	s.log.InfoContext(ctx, "pairing approved", "pairing", p.ID, "device", dev.ID, "label", dev.Label, "owner", ownerID, "actor", actor)
	return nil
}

// Deny denies the pending pairing of userCode; the device's next poll
// gets access_denied. The denial is recorded in the issuer's own audit
// log; DenyFor records it in an owner's.
func (s *Service) Deny(ctx context.Context, userCode, actor string) error {
	return s.DenyFor(ctx, userCode, "", actor)
}

// DenyFor is Deny by a user of the owner ownerID, whose audit log records
// it.
func (s *Service) DenyFor(ctx context.Context, userCode, ownerID, actor string) error {
	found, err := s.find(ctx, s.cfg.Store, userCode)
	if err != nil {
		return fmt.Errorf("deny pairing: %w", err)
	}
	var p *store.Pairing
	err = s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		var err error
		if p, err = s.pending(ctx, tx, found.ID); err != nil {
			return err
		}
		p.Status, p.OwnerID, p.Actor, p.DecidedAt = store.StatusDenied, ownerID, actor, s.cfg.Now()
		if err := tx.UpdatePairing(ctx, p, store.StatusPending); err != nil {
			return decisionConflict(err)
		}
		return devices.Audit(ctx, tx, ownerID, actor, devices.AuditDeny,
			fmt.Sprintf("code %s, model %q, hostname %q, from %s", FormatUserCode(p.UserCode), p.Model, p.Hostname, p.Source))
	})
	if err != nil {
		return fmt.Errorf("deny pairing: %w", err)
	}
	s.log.InfoContext(ctx, "pairing denied", "pairing", p.ID, "actor", actor)
	return nil
}

// decisionConflict turns a lost race between two decisions into ErrDecided.
func decisionConflict(err error) error {
	if errors.Is(err, store.ErrConflict) {
		return ErrDecided
	}
	return err
}

// List returns the pairings owner ownerID decided, oldest first; an empty
// ownerID lists every pairing, pending ones included (for admins and the
// command line). Pending pairings belong to no owner until decided, so an
// owner reaches them only through their code.
func (s *Service) List(ctx context.Context, ownerID string) ([]*store.Pairing, error) {
	ps, err := s.cfg.Store.ListPairings(ctx, store.PairingFilter{OwnerID: ownerID})
	if err != nil {
		return nil, fmt.Errorf("list pairings: %w", err)
	}
	return ps, nil
}

// Sweep deletes pairings that expired more than a day ago; the audit log
// keeps their decisions.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	return s.cfg.Store.DeletePairings(ctx, s.cfg.Now().Add(-24*time.Hour))
}

// RunSweeper calls Sweep every interval until ctx is done.
func (s *Service) RunSweeper(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "sweep pairings", "err", err)
		}
	}
}

// deviceName is the name a paired device starts with: the hostname it
// reported, else its model, else its label.
func deviceName(p *store.Pairing) string {
	for _, n := range []string{p.Hostname, p.Model} {
		if n != "" {
			return n
		}
	}
	return "device " + p.Label[:8]
}

// Names returns the certificate names of a label in the service's zone.
func (s *Service) Names(label string) []string { return names.CertNames(label, s.cfg.Zone) }
