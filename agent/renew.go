package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"math/rand/v2"
	"time"

	"github.com/mholt/acmez/v3/acme"
)

// renewLoop gets the first certificate if the device has none that fits,
// then renews it when ARI (RFC 9773) says, or at 2/3 of its lifetime when
// the issuer offers no ARI. Failures are retried with exponential backoff
// and jitter while the old certificate keeps serving. Each new decision
// to keep a certificate (at a start, after a renewal, when ARI moves the
// time) is logged with the time it will be renewed.
func (a *Agent) renewLoop(ctx context.Context) {
	failures := 0
	var kept struct {
		serial string
		at     time.Time
	}
	for {
		var wait time.Duration
		cur := a.cert.Load()
		switch {
		case a.forceNext, a.isRevoked(cur), !fits(cur, a.credentials().Names, time.Now()):
			wait = 0
		default:
			at, source, recheck := a.renewalTime(ctx, cur.Leaf)
			a.updateStatus(ctx, func(s *Status) { s.NextRenewal, s.RenewalSource = at, source })
			wait = time.Until(at)
			if serial := fmtSerial(cur.Leaf); wait > 0 && (serial != kept.serial || !at.Equal(kept.at)) {
				kept.serial, kept.at = serial, at
				a.log.Info("certificate still good, not renewing yet", "serial", serial, "next_renewal", at, "source", source)
			}
			if recheck > 0 && recheck < wait {
				// Ask ARI again when it said to (Retry-After, section 4.3):
				// the window may have moved, e.g. after a revocation.
				if !a.sleep(ctx, recheck) {
					return
				}
				continue
			}
		}
		if failures > 0 {
			wait = max(wait, backoff(a.cfg.RetryBase, a.cfg.RetryMax, failures))
		}
		if !a.sleep(ctx, wait) {
			return
		}
		if err := a.renew(ctx, cur); err != nil {
			if ctx.Err() != nil {
				return
			}
			if isProblem(err, "unauthorized", "accountDoesNotExist") && a.confirmUnpaired(ctx) {
				a.stopPaired(ErrUnpaired)
				return
			}
			if a.isRevoked(cur) && a.cert.CompareAndSwap(cur, nil) {
				a.log.Warn("stopped serving the revoked certificate; no new one yet", "serial", fmtSerial(cur.Leaf))
			}
			failures++
			a.failReported(ctx, "renew certificate", err)
			continue
		}
		failures = 0
	}
}

// sleep waits d, or less when RenewNow is called; it reports false when
// ctx ends first.
func (a *Agent) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-a.renewNow:
		// Forced: the next pass renews at once, so make the current
		// certificate look due by dropping to a zero wait.
		a.forceNext = true
	}
	return true
}

// renew gets a new certificate (replacing cur, if any), stores it and
// swaps it in.
func (a *Agent) renew(ctx context.Context, cur *tls.Certificate) error {
	if cur != nil && !a.forceNext && !a.isRevoked(cur) && fits(cur, a.credentials().Names, time.Now()) {
		at, _, _ := a.renewalTime(ctx, cur.Leaf)
		if time.Now().Before(at) {
			return nil // woken early for an ARI recheck; not due
		}
	}
	var old *x509.Certificate
	if cur != nil {
		old = cur.Leaf
	}
	start := time.Now()
	cert, err := a.obtain(ctx, old)
	if err != nil {
		return err
	}
	if err := a.saveCertificate(ctx, cert); err != nil {
		return err
	}
	// Only now: a forced renewal that failed is tried again, with backoff.
	a.forceNext = false
	a.serve(cert)
	hadError := false
	a.updateStatus(ctx, func(s *Status) {
		s.Serial = fmtSerial(cert.Leaf)
		s.NotAfter = cert.Leaf.NotAfter
		s.LastRenewal = time.Now()
		s.Renewals++
		hadError = s.LastError != ""
		s.LastError = ""
	})
	if hadError {
		a.reportStatus("", time.Now())
	}
	a.log.Info("new certificate", "serial", fmtSerial(cert.Leaf), "not_after", cert.Leaf.NotAfter, "took", time.Since(start).Round(time.Millisecond))
	a.hookWake()
	return nil
}

// renewalTime says when to renew leaf: a random time in the ARI window,
// or 2/3 into its lifetime when ARI is not available; recheck is when to
// ask ARI again (0: no need).
func (a *Agent) renewalTime(ctx context.Context, leaf *x509.Certificate) (at time.Time, source string, recheck time.Duration) {
	a.mu.Lock()
	ari := a.ari
	a.mu.Unlock()
	if ari == nil || ari.serial.Cmp(leaf.SerialNumber) != 0 || time.Now().After(ari.refreshAt) {
		ri, err := a.fetchRenewalInfo(ctx, leaf)
		if err != nil {
			a.log.Debug("no renewal info; renewing at 2/3 of the lifetime", "err", err)
			life := leaf.NotAfter.Sub(leaf.NotBefore)
			return leaf.NotBefore.Add(life * 2 / 3), "lifetime", time.Hour
		}
		ari = &ariState{serial: leaf.SerialNumber, at: ri.SelectedTime, refreshAt: time.Now().Add(6 * time.Hour)}
		if ri.RetryAfter != nil {
			ari.refreshAt = *ri.RetryAfter
		}
		a.mu.Lock()
		a.ari = ari
		a.mu.Unlock()
	}
	return ari.at, "ari", time.Until(ari.refreshAt)
}

func (a *Agent) fetchRenewalInfo(ctx context.Context, leaf *x509.Certificate) (acme.RenewalInfo, error) {
	return a.newACMEClient(a.credentials().Directory).GetRenewalInfo(ctx, leaf)
}

// fail records a failure: logged, counted and kept as the last error for
// `lantls agent status`.
func (a *Agent) fail(ctx context.Context, what string, err error) (msg string, at time.Time) {
	a.log.Error(what, "err", err)
	msg, at = what+": "+err.Error(), time.Now()
	a.updateStatus(ctx, func(s *Status) {
		s.Failures++
		s.LastError = msg
		s.LastErrorAt = at
	})
	return msg, at
}

// failReported records a failure of the certificate work as fail does and
// also reports it to the issuer (PUT /api/v1/device/status), where the
// owner sees it as the device's last error; the next success clears it.
func (a *Agent) failReported(ctx context.Context, what string, err error) {
	a.reportStatus(a.fail(ctx, what, err))
}

// backoff is the delay after n consecutive failures: base doubled n-1
// times, capped at most, then spread over [d/2, d) so that many devices
// failing together do not retry together.
func backoff(base, most time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < most; i++ {
		d *= 2
	}
	d = min(d, most)
	return d/2 + rand.N(d/2+1)
}

// ariState is the renewal time ARI gave for one certificate.
type ariState struct {
	serial    *big.Int
	at        time.Time
	refreshAt time.Time
}
