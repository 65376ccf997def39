package upstream

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lantls/lantls/ca"
	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/internal/pebble"
	"github.com/lantls/lantls/internal/testwait"
	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/ratelimit"
	"github.com/lantls/lantls/store"
	"github.com/lantls/lantls/store/sqlite"
)

const testZone = "lan.test"

// harness is a store, a DNS server for its zone, an in-process Pebble that
// validates against that server, and a signer brokering to it.
type harness struct {
	t      *testing.T
	store  store.Store
	dns    string
	pebble *pebble.Server
	dir    string
	device *store.Device
	acct   *store.Account
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "lantls.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	h := &harness{t: t, dir: t.TempDir()}
	h.store, h.dns = startZone(t, s)
	h.pebble, err = pebble.Start(pebble.Options{DNSServer: h.dns})
	if err != nil {
		t.Fatalf("start pebble: %v", err)
	}
	t.Cleanup(h.pebble.Close)
	ctx := t.Context()
	owner, err := h.store.EnsureOwner(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	h.device = &store.Device{Label: "abcdefghijklmnopqrstuvwxyz", OwnerID: owner.ID, Name: "tv", Status: store.StatusActive}
	if err := h.store.CreateDevice(ctx, h.device); err != nil {
		t.Fatal(err)
	}
	h.acct = &store.Account{DeviceID: h.device.ID, KeyThumbprint: "tp", KeyJWK: []byte("{}"), Contact: []string{}, Status: store.StatusValid}
	if err := h.store.CreateAccount(ctx, h.acct); err != nil {
		t.Fatal(err)
	}
	return h
}

// signer makes a signer on the harness (as a restarted issuer would make
// a new one) and runs its queue until the test ends or stop is called.
func (h *harness) signer(limits Limits) (s *Signer, stop func()) {
	h.t.Helper()
	s, err := New(Config{
		Directory:    h.pebble.Directory(),
		Roots:        h.pebble.TLSRoots(),
		Dir:          h.dir,
		Store:        h.store,
		Record:       devices.RecordCertificate,
		Zone:         testZone,
		DNSServer:    h.dns,
		Limits:       limits,
		PollInterval: 50 * time.Millisecond,
		MaxBackoff:   200 * time.Millisecond,
		Logger:       slog.New(slog.NewTextHandler(testWriter{h.t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		h.t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(h.t.Context())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	stop = func() { cancel(); <-done }
	h.t.Cleanup(stop)
	return s, stop
}

// order stores a processing order of the device for names and hands it to
// s as the ACME front end does, returning it and the CSR's key.
func (h *harness) order(s *Signer, names ...string) (*store.Order, error) {
	h.t.Helper()
	ctx := h.t.Context()
	o := &store.Order{
		AccountID: h.acct.ID, DeviceID: h.device.ID, Status: store.StatusReady,
		Profile: "default", Expires: time.Now().Add(time.Hour),
	}
	var authzs []*store.Authorization
	for _, n := range names {
		o.Identifiers = append(o.Identifiers, store.Identifier{Type: "dns", Value: n})
	}
	if err := h.store.CreateOrder(ctx, o, authzs); err != nil {
		h.t.Fatalf("CreateOrder: %v", err)
	}
	req := ca.Request{CSR: newCSR(h.t, names), Names: names, Profile: ca.Profiles["default"]}
	err := h.store.Update(ctx, func(tx store.Tx) error {
		o.Status = store.StatusProcessing
		if err := tx.UpdateOrder(ctx, o, store.StatusReady); err != nil {
			return err
		}
		return s.Enqueue(ctx, tx, o.ID, req)
	})
	return o, err
}

func (h *harness) names() []string {
	base := h.device.Label + "." + testZone
	return []string{base, "*." + base}
}

// wait waits for the order's work with a timeout.
func (h *harness) wait(s *Signer, o *store.Order, d time.Duration) error {
	ctx, cancel := context.WithTimeout(h.t.Context(), d)
	defer cancel()
	return s.Wait(ctx, o.ID)
}

// checkValid checks that the order is valid with a certificate for its
// names that chains to Pebble's root, and that nothing is left behind.
func (h *harness) checkValid(o *store.Order) *x509.Certificate {
	h.t.Helper()
	ctx := h.t.Context()
	got, err := h.store.GetOrder(ctx, o.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	if got.Status != store.StatusValid || got.CertificateSerial == "" {
		h.t.Fatalf("order is %s (error %v), want valid with a certificate", got.Status, got.Error)
	}
	cert, err := h.store.GetCertificate(ctx, got.CertificateSerial)
	if err != nil {
		h.t.Fatal(err)
	}
	leaf, inters := parseChain(h.t, cert.ChainPEM)
	roots := x509.NewCertPool()
	roots.AddCert(h.pebble.Root())
	for _, name := range h.names() {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, DNSName: name}); err != nil {
			h.t.Errorf("certificate does not verify for %s against Pebble's root: %v", name, err)
		}
	}
	h.checkClean(o)
	return leaf
}

// checkClean checks that the order's work and its TXT records are gone.
func (h *harness) checkClean(o *store.Order) {
	h.t.Helper()
	if _, err := h.store.GetUpstreamOrder(h.t.Context(), o.ID); !errors.Is(err, store.ErrNotFound) {
		h.t.Errorf("upstream work of the order is still stored (%v)", err)
	}
	if n := txtCount(h.store); n != 0 {
		h.t.Errorf("%d TXT records left in the zone", n)
	}
}

func TestIssueChainsToUpstreamRoot(t *testing.T) {
	h := newHarness(t)
	s, _ := h.signer(DefaultLimits)
	o, err := h.order(s, h.names()...)
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	if err := h.wait(s, o, time.Minute); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	leaf := h.checkValid(o)
	if !slices.Equal(slices.Sorted(slices.Values(leaf.DNSNames)), slices.Sorted(slices.Values(h.names()))) {
		t.Errorf("certificate names %v, want %v", leaf.DNSNames, h.names())
	}
	// What went upstream: the device's CSR, with exactly L.Z and *.L.Z.
	csrs := h.pebble.CSRs()
	if len(csrs) != 1 {
		t.Fatalf("%d CSRs reached the upstream, want 1", len(csrs))
	}
	if got := slices.Sorted(slices.Values(csrs[0].DNSNames)); !slices.Equal(got, slices.Sorted(slices.Values(h.names()))) ||
		len(csrs[0].IPAddresses) > 0 || len(csrs[0].EmailAddresses) > 0 || len(csrs[0].URIs) > 0 {
		t.Errorf("CSR upstream names %v (IPs %v), want exactly %v", csrs[0].DNSNames, csrs[0].IPAddresses, h.names())
	}
	if s.AccountURL() == "" {
		t.Error("no upstream account URL after an issuance")
	}
	if got := testutil.ToFloat64(s.metrics.ended.WithLabelValues("valid")); got != 1 {
		t.Errorf("lantls_upstream_orders_total{outcome=valid} = %v, want 1", got)
	}

	// ARI: the upstream's window.
	start, end, err := s.RenewalWindow(t.Context(), leaf.Raw)
	if err != nil || !start.Before(end) || end.After(leaf.NotAfter) {
		t.Errorf("RenewalWindow = %v .. %v, %v; want a window before %v", start, end, err, leaf.NotAfter)
	}
	// It is kept until the CA's Retry-After: a changed window upstream is
	// not fetched on every renewalInfo GET.
	now := time.Now()
	if err := h.pebble.SetRenewalWindow(leaf.SerialNumber, now.Add(-time.Minute), now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if s2, e2, err := s.RenewalWindow(t.Context(), leaf.Raw); err != nil || !s2.Equal(start) || !e2.Equal(end) {
		t.Errorf("RenewalWindow again = %v .. %v, %v; want the kept %v .. %v", s2, e2, err, start, end)
	}
	// Revocation is forwarded; a second one is already done there.
	if err := s.Revoke(t.Context(), leaf.Raw, 4); err != nil {
		t.Errorf("Revoke: %v", err)
	}
	if err := s.Revoke(t.Context(), leaf.Raw, 4); err != nil {
		t.Errorf("Revoke again: %v", err)
	}
}

func TestOnlyDeviceNamesGoUpstream(t *testing.T) {
	h := newHarness(t)
	s, _ := h.signer(DefaultLimits)
	base := h.device.Label + "." + testZone
	for _, names := range [][]string{
		{base},
		{base, "*." + base, "192-168-1-20." + base},
		{"192-168-1-20." + base, "*." + base},
		{"a.b." + testZone, "*.a.b." + testZone},
	} {
		_, err := h.order(s, names...)
		if !problem.Is(err, problem.RejectedIdentifier) {
			t.Errorf("order for %v: %v, want rejectedIdentifier", names, err)
		}
	}
}

func TestUpstreamRateLimitedReachesOrder(t *testing.T) {
	h := newHarness(t)
	s, _ := h.signer(DefaultLimits)
	h.pebble.SetRateLimited(90 * time.Second)
	o, err := h.order(s, h.names()...)
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	err = h.wait(s, o, time.Minute)
	p := problem.OrInternal(err)
	if p.Kind != problem.RateLimited || p.RetryAfter != 90*time.Second {
		t.Fatalf("Wait = %v (retry after %v), want rateLimited with the upstream's 90s", err, p.RetryAfter)
	}
	got, _ := h.store.GetOrder(t.Context(), o.ID)
	if got.Status != store.StatusInvalid || got.Error == nil || got.Error.Kind != problem.RateLimited {
		t.Errorf("order is %s with %v, want invalid with rateLimited", got.Status, got.Error)
	}
	h.checkClean(o)
}

func TestUpstreamOutageKeepsOrderProcessing(t *testing.T) {
	h := newHarness(t)
	s, _ := h.signer(DefaultLimits)
	h.pebble.SetDown(true)
	o, err := h.order(s, h.names()...)
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	if err := h.wait(s, o, 2*time.Second); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait while the upstream is down = %v, want a timeout", err)
	}
	var u *store.UpstreamOrder
	if !testwait.Until(30*time.Second, func() bool {
		got, _ := h.store.GetOrder(t.Context(), o.ID)
		var uerr error
		u, uerr = h.store.GetUpstreamOrder(t.Context(), o.ID)
		if got.Status != store.StatusProcessing || uerr != nil {
			t.Fatalf("order %s, work %+v (%v); want processing", got.Status, u, uerr)
		}
		return u.Attempts > 0 && u.LastError != ""
	}) {
		t.Fatalf("no failed attempt recorded within 30s: %+v", u)
	}
	h.pebble.SetDown(false)
	if err := h.wait(s, o, time.Minute); err != nil {
		t.Fatalf("Wait after the upstream is back: %v", err)
	}
	h.checkValid(o)
}

func TestRestartResumes(t *testing.T) {
	h := newHarness(t)
	s1, stop := h.signer(DefaultLimits)
	o, err := h.order(s1, h.names()...)
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	s1.kick()
	// Cut the first signer off once the upstream order exists, as a
	// crash would.
	testwait.For(t, 90*time.Second, "an upstream order", func() bool {
		u, err := h.store.GetUpstreamOrder(t.Context(), o.ID)
		if err != nil {
			t.Fatalf("work ended before the cut: %v", err)
		}
		return u.URL != ""
	})
	stop()
	s2, _ := h.signer(DefaultLimits)
	if err := h.wait(s2, o, time.Minute); err != nil {
		t.Fatalf("Wait after the restart: %v", err)
	}
	h.checkValid(o)
}

func TestBudgetSpentIsRateLimited(t *testing.T) {
	h := newHarness(t)
	limits := DefaultLimits
	limits.DuplicateCertificates = ratelimit.Limit{Name: "upstream-duplicate-certificates", Count: 1, Period: time.Hour}
	s, _ := h.signer(limits)
	o, err := h.order(s, h.names()...)
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	if err := h.wait(s, o, time.Minute); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	_, err = h.order(s, h.names()...)
	p := problem.OrInternal(err)
	if p.Kind != problem.RateLimited || p.RetryAfter < 59*time.Minute || p.RetryAfter > time.Hour {
		t.Errorf("second order = %v (retry after %v), want rateLimited for about an hour", err, p.RetryAfter)
	}
}

func TestAccountKeyIsPrivateAndKept(t *testing.T) {
	h := newHarness(t)
	s1, _ := h.signer(DefaultLimits)
	url, err := s1.Register(t.Context())
	if err != nil || url == "" {
		t.Fatalf("Register = %q, %v", url, err)
	}
	assertMode(t, filepath.Join(h.dir, AccountKeyFile), 0o600)
	s2, _ := h.signer(DefaultLimits)
	if s2.AccountURL() != url {
		t.Errorf("account URL after a restart = %q, want %q", s2.AccountURL(), url)
	}
}

func newCSR(t *testing.T, names []string) *x509.CertificateRequest {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: names}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	return csr
}

func parseChain(t *testing.T, chain []byte) (*x509.Certificate, *x509.CertPool) {
	t.Helper()
	var certs []*x509.Certificate
	for rest := chain; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
	if len(certs) < 2 {
		t.Fatalf("chain has %d certificates, want a leaf and an intermediate", len(certs))
	}
	pool := x509.NewCertPool()
	for _, c := range certs[1:] {
		pool.AddCert(c)
	}
	return certs[0], pool
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func TestRevocationsOutsideACMEReachUpstream(t *testing.T) {
	h := newHarness(t)
	s, stop := h.signer(DefaultLimits)
	o, err := h.order(s, h.names()...)
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	if err := h.wait(s, o, time.Minute); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	leaf := h.checkValid(o)
	stop()
	// The owner revokes the device's certificate in the UI: the store
	// alone. The next signer (a restarted issuer) tells the upstream.
	serial := fmt.Sprintf("%x", leaf.SerialNumber)
	if err := h.store.RevokeCertificate(t.Context(), serial, 5, time.Time{}); err != nil {
		t.Fatal(err)
	}
	h.signer(DefaultLimits)
	testwait.For(t, time.Minute, "the upstream to learn of the revocation", func() bool { return h.pebble.Revoked(leaf.SerialNumber) })
}

// TestOwnerShareOfBudget: one owner's devices spend no more than the
// owner's share of the zone's budget; another owner's devices still get
// theirs.
func TestOwnerShareOfBudget(t *testing.T) {
	h := newHarness(t)
	limits := DefaultLimits
	limits.CertificatesPerOwner = ratelimit.Limit{Name: "upstream-certificates-per-owner", Count: 1, Period: time.Hour}
	s, _ := h.signer(limits)
	o, err := h.order(s, h.names()...)
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	if err := h.wait(s, o, time.Minute); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	ctx := t.Context()
	device := func(owner, label string) {
		t.Helper()
		o, err := h.store.EnsureOwner(ctx, owner)
		if err != nil {
			t.Fatal(err)
		}
		h.device = &store.Device{Label: label, OwnerID: o.ID, Name: "tv", Status: store.StatusActive}
		if err := h.store.CreateDevice(ctx, h.device); err != nil {
			t.Fatal(err)
		}
		h.acct = &store.Account{DeviceID: h.device.ID, KeyThumbprint: "tp-" + label, KeyJWK: []byte("{}"), Contact: []string{}, Status: store.StatusValid}
		if err := h.store.CreateAccount(ctx, h.acct); err != nil {
			t.Fatal(err)
		}
	}
	device("alice", "bbcdefghijklmnopqrstuvwxyz")
	_, err = h.order(s, h.names()...)
	if p := problem.OrInternal(err); p.Kind != problem.RateLimited || !strings.Contains(p.Detail, "per-owner") {
		t.Errorf("alice's second device = %v, want rateLimited by her share", err)
	}
	device("bob", "cbcdefghijklmnopqrstuvwxyz")
	if _, err := h.order(s, h.names()...); err != nil {
		t.Errorf("bob's device after alice spent her share = %v, want it queued", err)
	}
}

func TestARICacheKeepsUntilRetryAfter(t *testing.T) {
	var c ariCache
	now := time.Unix(1_700_000_000, 0)
	start, end := now.Add(24*time.Hour), now.Add(48*time.Hour)
	c.put("a", start, end, now.Add(6*time.Hour), now)
	c.put("b", start, end, time.Time{}, now)
	c.put("c", start, end, now.Add(time.Second), now)
	c.put("d", start, end, now.Add(30*24*time.Hour), now)
	for _, tt := range []struct {
		id   string
		at   time.Duration
		want bool
	}{
		{"a", 6*time.Hour - time.Second, true}, {"a", 6 * time.Hour, false},
		{"b", ariDefaultTTL - time.Second, true}, {"b", ariDefaultTTL, false},
		{"c", ariMinTTL - time.Second, true}, {"c", ariMinTTL, false},
		{"d", ariMaxTTL - time.Second, true}, {"d", ariMaxTTL, false},
		{"x", 0, false},
	} {
		if _, _, ok := c.get(tt.id, now.Add(tt.at)); ok != tt.want {
			t.Errorf("get(%s) at +%v = %v, want %v", tt.id, tt.at, ok, tt.want)
		}
	}
	for i := range ariMaxEntries + 10 {
		c.put(fmt.Sprint(i), start, end, time.Time{}, now)
	}
	if len(c.m) > ariMaxEntries {
		t.Errorf("%d entries, want at most %d", len(c.m), ariMaxEntries)
	}
}
