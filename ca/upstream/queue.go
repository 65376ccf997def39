package upstream

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mholt/acmez/v3/acme"

	"github.com/lantls/lantls/ca"
	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/ratelimit"
	"github.com/lantls/lantls/store"
)

// Enqueue stores the work of signing our order orderID inside tx, the
// transaction that claims the order. Only the names L.Z and *.L.Z go
// upstream: a certificate from a public CA lands in public Certificate
// Transparency logs, where an address-name or a hostname would tell the
// world about the device. A new certificate (not an ARI renewal) is
// refused with rateLimited, and a true Retry-After, while one of the
// issuer's budgets at the upstream is spent.
func (s *Signer) Enqueue(ctx context.Context, tx store.Tx, orderID string, req ca.Request) error {
	if req.CSR == nil {
		return problem.BadCSRErr("no CSR")
	}
	if err := s.cfg.Keys.CertificateKey(req.CSR.PublicKey); err != nil {
		return err
	}
	if err := s.checkNames(req.Names); err != nil {
		return err
	}
	u := &store.UpstreamOrder{
		OrderID:   orderID,
		CSR:       req.CSR.Raw,
		Names:     slices.Clone(req.Names),
		Profile:   s.cfg.Profile,
		CreatedAt: s.now(),
	}
	if req.Replaces != nil {
		if leaf, err := x509.ParseCertificate(req.Replaces); err == nil {
			u.Replaces, _ = acme.ARIUniqueIdentifier(leaf)
		}
	}
	if u.Replaces == "" {
		bs, err := s.budgets(ctx, tx, u.Names)
		if err != nil {
			return err
		}
		for _, b := range bs {
			if err := b.limit.Check(ctx, tx, b.key, s.now()); err != nil {
				return err
			}
		}
	}
	return tx.PutUpstreamOrder(ctx, u)
}

// checkNames requires exactly a device's two names, L.Z and *.L.Z.
func (s *Signer) checkNames(ns []string) error {
	if len(ns) == 2 {
		base := ns[0]
		if strings.HasPrefix(base, "*.") {
			base = ns[1]
		}
		label, ok := strings.CutSuffix(base, "."+s.cfg.Zone)
		if ok && label != "" && !strings.Contains(label, ".") && slices.Contains(ns, "*."+base) {
			return nil
		}
	}
	return problem.RejectedIdentifierErr("this issuer gets certificates from a public CA, whose certificates are logged publicly; order exactly L.%s and *.L.%s, which serve every address-name", s.cfg.Zone, s.cfg.Zone)
}

// budget is one of the issuer's budgets at the upstream with its key.
type budget struct {
	limit ratelimit.Limit
	key   string
}

// budgets are the budgets an order for ns counts against: the issuer's
// own at the upstream, and the share of the domain's that the device's
// owner may spend, so that one owner cannot spend the whole zone's.
func (s *Signer) budgets(ctx context.Context, tx store.Tx, ns []string) ([]budget, error) {
	sorted := slices.Sorted(slices.Values(ns))
	bs := []budget{
		{s.cfg.Limits.CertificatesPerDomain, s.cfg.Limits.RegisteredDomain},
		{s.cfg.Limits.OrdersPerAccount, s.keyID},
		{s.cfg.Limits.DuplicateCertificates, strings.Join(sorted, ",")},
	}
	if !s.cfg.Limits.CertificatesPerOwner.Enabled() {
		return bs, nil
	}
	owner, err := s.ownerOf(ctx, tx, ns)
	if err != nil {
		return nil, err
	}
	return append(bs, budget{s.cfg.Limits.CertificatesPerOwner, owner}), nil
}

// ownerOf returns the owner ID of the device whose names ns are (L.Z and
// *.L.Z, as checkNames requires).
func (s *Signer) ownerOf(ctx context.Context, tx store.Tx, ns []string) (string, error) {
	for _, n := range ns {
		if label, ok := strings.CutSuffix(n, "."+s.cfg.Zone); ok && !strings.HasPrefix(label, "*.") {
			d, err := tx.GetDeviceByLabel(ctx, label)
			if err != nil {
				return "", fmt.Errorf("owner of %s: %w", n, err)
			}
			return d.OwnerID, nil
		}
	}
	return "", problem.RejectedIdentifierErr("order exactly L.%s and *.L.%s", s.cfg.Zone, s.cfg.Zone)
}

// takeBudgets counts one new upstream order against every budget, or
// none and returns how long to wait when one is spent.
func (s *Signer) takeBudgets(ctx context.Context, ns []string) (time.Duration, error) {
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		bs, err := s.budgets(ctx, tx, ns)
		if err != nil {
			return err
		}
		for _, b := range bs {
			if err := b.limit.Take(ctx, tx, b.key, s.now()); err != nil {
				return err
			}
		}
		return nil
	})
	if p := problem.OrInternal(err); err != nil && p.Kind == problem.RateLimited {
		return p.RetryAfter, nil
	}
	return 0, err
}

// Wait wakes the queue for orderID and returns when its work has ended:
// nil if the order is valid (or no longer processing here), the order's
// problem if it failed, ctx's error if ctx ends first.
func (s *Signer) Wait(ctx context.Context, orderID string) error {
	ch := make(chan error, 1)
	s.mu.Lock()
	s.waiters[orderID] = append(s.waiters[orderID], ch)
	s.mu.Unlock()
	defer s.forgetWaiter(orderID, ch)
	s.kick()
	if _, err := s.cfg.Store.GetUpstreamOrder(ctx, orderID); errors.Is(err, store.ErrNotFound) {
		// Ended before we listened: the order says how.
		o, err := s.cfg.Store.GetOrder(ctx, orderID)
		if err == nil && o.Status == store.StatusInvalid && o.Error != nil {
			return o.Error
		}
		return nil
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Signer) forgetWaiter(orderID string, ch chan error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ws := slices.DeleteFunc(s.waiters[orderID], func(c chan error) bool { return c == ch })
	if len(ws) == 0 {
		delete(s.waiters, orderID)
	} else {
		s.waiters[orderID] = ws
	}
}

// ended tells the waiters of orderID how its work ended.
func (s *Signer) ended(orderID string, p *problem.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ch := range s.waiters[orderID] {
		if p != nil {
			ch <- p
		} else {
			ch <- nil
		}
	}
	delete(s.waiters, orderID)
}

// kick wakes Run.
func (s *Signer) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run works the queue until ctx is done: every order whose time has come,
// oldest first, one at a time (public CAs prefer few concurrent orders
// per account, and Pebble deadlocks under concurrent load). It also tells
// the upstream about revocations made outside ACME (syncRevocations).
func (s *Signer) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { s.syncRevocations(ctx) })
	for {
		var next time.Duration
		if s.cfg.Exclusive == nil {
			next = s.runQueue(ctx)
		} else {
			err := s.cfg.Exclusive(ctx, "lantls-upstream-queue", func() error {
				next = s.runQueue(ctx)
				return nil
			})
			if err != nil {
				if ctx.Err() == nil {
					s.log.Error("upstream queue lock", "err", err)
				}
				next = time.Second
			}
		}
		t := time.NewTimer(next)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// runQueue works every due order once and returns how long until the
// next one is due.
func (s *Signer) runQueue(ctx context.Context) time.Duration {
	us, err := s.cfg.Store.ListUpstreamOrders(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("upstream queue cannot be read", "err", err)
		}
		return time.Second
	}
	s.metrics.queue.Set(float64(len(us)))
	next := time.Minute
	for _, u := range us {
		if ctx.Err() != nil {
			return 0
		}
		if wait := u.NotBefore.Sub(s.now()); wait > 0 {
			next = min(next, wait)
			continue
		}
		s.work(ctx, u)
		next = 0
	}
	return next
}

// errDeferred says the work waits for a budget; its NotBefore is saved.
var errDeferred = errors.New("waiting for a budget at the upstream CA")

// errInvalid marks an upstream order or authorization that cannot
// succeed any more.
var errInvalid = errors.New("upstream order is invalid")

// work takes one order of the queue one step as far as it goes: to a
// certificate, to a failure, or to a retry later.
func (s *Signer) work(ctx context.Context, u *store.UpstreamOrder) {
	o, err := s.cfg.Store.GetOrder(ctx, u.OrderID)
	if err != nil {
		s.retry(ctx, u, fmt.Errorf("read our order: %w", err))
		return
	}
	if o.Status != store.StatusProcessing {
		s.finish(ctx, u, o, nil, nil)
		return
	}
	if !s.now().Before(o.Expires) {
		s.finish(ctx, u, o, nil, problem.ServerInternalErr("the upstream CA did not issue the certificate before the order expired; place a new order"))
		return
	}
	wctx, slot := withRetrySlot(ctx)
	issued, err := s.obtain(wctx, u, o.Expires, true)
	switch {
	case err == nil:
		s.finish(ctx, u, o, issued, nil)
		return
	case errors.Is(err, errDeferred) || ctx.Err() != nil:
		return
	}
	oc := judge(err, slot.get())
	s.log.Warn("upstream order step failed", "order", u.OrderID, "upstream_order", u.URL,
		"upstream_type", oc.upstreamType, "fail", oc.fail, "err", err)
	if oc.forgetAcct {
		s.forgetAccount()
		u.URL = ""
	}
	if !oc.fail {
		s.metrics.retries.WithLabelValues(oc.upstreamType).Inc()
		s.retry(ctx, u, err)
		return
	}
	if oc.p == nil {
		oc.p = problem.ServerInternalErr("the upstream CA did not issue the certificate; the issuer's log has its reason")
	}
	s.finish(ctx, u, o, nil, oc.p)
}

// retry saves the work to be tried again after a backoff that doubles
// with each failure, up to MaxBackoff.
func (s *Signer) retry(ctx context.Context, u *store.UpstreamOrder, cause error) {
	u.Attempts++
	backoff := s.cfg.MaxBackoff
	if u.Attempts < 20 {
		backoff = min(s.cfg.PollInterval<<u.Attempts, s.cfg.MaxBackoff)
	}
	u.NotBefore, u.LastError = s.now().Add(backoff), cause.Error()
	if err := s.cfg.Store.PutUpstreamOrder(context.WithoutCancel(ctx), u); err != nil {
		s.log.Error("upstream order cannot be saved", "order", u.OrderID, "err", err)
	}
}

// finish ends the work of our order o in one transaction: with issued,
// the certificate is recorded and the order made valid; with p, the order
// is made invalid with p; with neither (the order ended elsewhere), the
// order is left as it is. Every way removes the TXT records and the work.
func (s *Signer) finish(ctx context.Context, u *store.UpstreamOrder, o *store.Order, issued *ca.Issued, p *problem.Error) {
	ctx = context.WithoutCancel(ctx)
	now := s.now()
	var cert *store.Certificate
	if issued != nil {
		cert = issued.Certificate(o, orderNames(o), o.Profile, now)
	}
	var gone bool // the device was revoked while its order was upstream
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		gone = false
		cur, err := tx.GetOrder(ctx, o.ID)
		if err != nil {
			return err
		}
		if cur.Status == store.StatusProcessing && (cert != nil || p != nil) {
			next := *cur
			if cert != nil {
				err := s.cfg.Record(ctx, tx, &next, store.StatusProcessing, cert, " from the upstream CA")
				if gone = problem.Is(err, problem.Unauthorized); !gone && err != nil {
					return err
				}
			}
			if cert == nil || gone {
				next.Status, next.Error = store.StatusInvalid, p
				if gone {
					next.Error = problem.UnauthorizedErr("the device was revoked")
				}
				if err := tx.UpdateOrder(ctx, &next, store.StatusProcessing); err != nil {
					return err
				}
			}
		}
		if err := deleteTXT(ctx, tx, u.TXT); err != nil {
			return err
		}
		return tx.DeleteUpstreamOrder(ctx, u.OrderID)
	})
	if err != nil {
		s.log.Error("upstream order cannot be ended; trying again", "order", u.OrderID, "err", err)
		s.retry(ctx, u, err)
		return
	}
	switch {
	case cert != nil && !gone:
		s.metrics.ended.WithLabelValues("valid").Inc()
	case p != nil:
		s.metrics.ended.WithLabelValues(string(p.Kind)).Inc()
	}
	switch {
	case gone:
		s.log.Warn("upstream certificate of a revoked device revoked", "order", o.ID, "serial", cert.Serial)
		if leaf := leafOf(issued.ChainPEM); leaf != nil {
			if err := s.Revoke(ctx, leaf, 5); err != nil { // cessationOfOperation
				s.log.Error("upstream revocation failed", "serial", cert.Serial, "err", err)
			}
		}
		p = problem.UnauthorizedErr("the device was revoked")
	case cert != nil:
		s.log.Info("upstream certificate issued", "order", o.ID, "serial", cert.Serial, "device", o.DeviceID, "upstream_order", u.URL)
	case p != nil:
		s.log.Warn("upstream order failed", "order", o.ID, "type", string(p.Kind), "detail", p.Detail, "last_error", u.LastError)
	}
	s.ended(o.ID, p)
}

func orderNames(o *store.Order) []string { return o.DNSNames() }
