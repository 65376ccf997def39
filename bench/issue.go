package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"
)

// issue runs one device's issuance with the configured client.
func (r *run) issue(ctx context.Context, d Device, rec *recorder) error {
	start := time.Now()
	var chain [][]byte
	var err error
	if r.o.Client == ClientXACME {
		chain, err = r.issueXACME(ctx, d, rec)
	} else {
		chain, err = r.issueLean(ctx, d, rec)
	}
	if err == nil && r.o.Verify {
		err = inStep("verify", verifyChain(chain, r.o.RootCAs))
	}
	if err != nil {
		return err
	}
	rec.add(slotTotal, time.Since(start))
	if r.o.Issued != nil {
		r.o.Issued(d, chain)
	}
	return nil
}

// issueLean is one issuance with the lean client, step by step.
func (r *run) issueLean(ctx context.Context, d Device, rec *recorder) ([][]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	c := newACMEClient(r.hc, r.dir, key)
	defer func() { rec.badNonces += c.badNonces }()
	t := time.Now()
	lap := func(slot int) {
		now := time.Now()
		rec.add(slot, now.Sub(t))
		t = now
	}

	if err := c.newNonce(ctx); err != nil {
		return nil, inStep(StepNonce, err)
	}
	lap(slotNonce)
	if err := c.register(ctx, d.KID, d.HMACKey); err != nil {
		return nil, inStep(StepAccount, err)
	}
	lap(slotAccount)
	o, err := c.newOrder(ctx, identifiers(d.Names))
	if err != nil {
		return nil, inStep(StepOrder, err)
	}
	lap(slotOrder)
	var pending []*authorization
	for _, u := range o.Authorizations {
		a, err := c.getAuthorization(ctx, u)
		if err != nil {
			return nil, inStep(StepAuthz, err)
		}
		switch a.Status {
		case "valid":
		case "pending":
			pending = append(pending, a)
		default:
			return nil, inStep(StepAuthz, fmt.Errorf("authorization for %s is %s", a.Identifier.Value, a.Status))
		}
	}
	lap(slotAuthz)
	if len(pending) > 0 {
		if err := r.solve(ctx, c, pending); err != nil {
			return nil, inStep(StepChallenge, err)
		}
		lap(slotChallenge)
	}
	o, err = r.finalizeLean(ctx, c, o, d.Names)
	if err != nil {
		return nil, inStep(StepFinalize, err)
	}
	lap(slotFinalize)
	chain, err := c.certificate(ctx, o.Certificate)
	if err != nil {
		return nil, inStep(StepDownload, err)
	}
	lap(slotDownload)
	return chain, nil
}

// solve answers every pending authorization, then waits until each is
// valid: answering all first lets the server validate them in parallel.
// It answers http-01 where offered (served on HTTP01Addr), else dns-01,
// which only a server that skips validation (Pebble with
// PEBBLE_VA_ALWAYS_VALID) will accept from a client that publishes no
// record.
func (r *run) solve(ctx context.Context, c *acmeClient, pending []*authorization) error {
	var waiting []*authorization
	for _, a := range pending {
		ch := pickChallenge(a.Challenges)
		if ch == nil {
			return fmt.Errorf("authorization for %s offers no http-01 or dns-01 challenge", a.Identifier.Value)
		}
		if ch.Type == "http-01" {
			if err := r.http01.set(ch.Token, c.keyAuthorization(ch.Token)); err != nil {
				return err
			}
			defer r.http01.remove(ch.Token)
		}
		got, err := c.accept(ctx, ch)
		if err != nil {
			return err
		}
		switch got.Status {
		case "valid":
		case "invalid":
			if got.Error != nil {
				return got.Error
			}
			return fmt.Errorf("%s challenge for %s is invalid", ch.Type, a.Identifier.Value)
		default:
			waiting = append(waiting, a)
		}
	}
	return r.waitValid(ctx, c, waiting)
}

// waitValid polls authorizations until all are valid, sleeping once per
// round rather than once per authorization.
func (r *run) waitValid(ctx context.Context, c *acmeClient, waiting []*authorization) error {
	for len(waiting) > 0 {
		var wait time.Duration
		for _, a := range waiting {
			wait = max(wait, a.retryAfter)
		}
		if err := r.sleep(ctx, wait); err != nil {
			return err
		}
		still := waiting[:0]
		for _, a := range waiting {
			a, err := c.getAuthorization(ctx, a.url)
			if err != nil {
				return err
			}
			switch a.Status {
			case "valid":
				continue
			case "pending", "processing":
				still = append(still, a)
				continue
			}
			for _, ch := range a.Challenges {
				if ch.Error != nil {
					return ch.Error
				}
			}
			return fmt.Errorf("authorization for %s is %s", a.Identifier.Value, a.Status)
		}
		waiting = still
	}
	return nil
}

func pickChallenge(chs []challenge) *challenge {
	for _, typ := range []string{"http-01", "dns-01"} {
		for i := range chs {
			if chs[i].Type == typ {
				return &chs[i]
			}
		}
	}
	return nil
}

// finalizeLean sends a CSR for a new key and waits until the order is
// valid.
func (r *run) finalizeLean(ctx context.Context, c *acmeClient, o *order, names []string) (*order, error) {
	csr, err := newCSR(names)
	if err != nil {
		return nil, err
	}
	next, wait, err := c.finalize(ctx, o, csr)
	if err != nil {
		return nil, err
	}
	for {
		switch next.Status {
		case "valid":
			if next.Certificate == "" {
				return nil, errors.New("valid order has no certificate URL")
			}
			return next, nil
		case "processing", "ready", "pending":
		default:
			if next.Error != nil {
				return nil, next.Error
			}
			return nil, fmt.Errorf("order is %s", next.Status)
		}
		if err := r.sleep(ctx, wait); err != nil {
			return nil, err
		}
		if next, wait, err = c.getOrder(ctx, o.url); err != nil {
			return nil, err
		}
	}
}

// sleep waits before the next poll: Retry-After capped at MaxPoll, or
// PollInterval when the server sent none.
func (r *run) sleep(ctx context.Context, retryAfter time.Duration) error {
	d := r.o.PollInterval
	if retryAfter > 0 {
		d = min(retryAfter, r.o.MaxPoll)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// identifiers turns names into ACME identifiers: IP addresses are "ip",
// everything else "dns".
func identifiers(names []string) []identifier {
	ids := make([]identifier, len(names))
	for i, n := range names {
		ids[i] = identifier{Type: "dns", Value: n}
		if net.ParseIP(n) != nil {
			ids[i].Type = "ip"
		}
	}
	return ids
}

// verifyChain checks that chain's leaf verifies to roots through the
// certificates after it.
func verifyChain(chain [][]byte, roots *x509.CertPool) error {
	certs := make([]*x509.Certificate, len(chain))
	for i, der := range chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("parse certificate %d of the chain: %w", i, err)
		}
		certs[i] = c
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
	return err
}
