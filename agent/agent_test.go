package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lantls/lantls/internal/testwait"
	"github.com/lantls/lantls/names"
)

// quiet is the tests' logger: progress and failures are checked through
// Status, not read from logs.
var quiet = slog.New(slog.DiscardHandler)

var testAddrMu sync.Mutex
var testAddrList = []netip.Addr{netip.MustParseAddr("192.168.1.20"), netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("fd00::20")}

func testAddrs() []netip.Addr {
	testAddrMu.Lock()
	defer testAddrMu.Unlock()
	return slices.Clone(testAddrList)
}

// runAgent runs a until the test ends.
func runAgent(t *testing.T, a *Agent) <-chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	finished := make(chan struct{})
	go func() { done <- a.Run(ctx); close(finished) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-finished:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10s of cancel")
		}
	})
	return done
}

func waitReady(t *testing.T, a *Agent) {
	t.Helper()
	select {
	case <-a.Ready():
	case <-time.After(20 * time.Second):
		t.Fatalf("no certificate within 20s; status %+v", a.Status())
	}
}

func TestPairObtainRestart(t *testing.T) {
	t.Parallel()
	ti := newTestIssuer(t)
	dir := DirStorage(filepath.Join(t.TempDir(), "state"))
	a, err := New(ti.config(dir))
	if err != nil {
		t.Fatal(err)
	}
	stop := runAgentStoppable(t, a)
	ti.approve(a)
	waitReady(t, a)

	cert := a.Certificate()
	creds := a.credentials()
	if want := names.CertNames(names.Label(spkiOf(a.accountKey())), "lan.test"); !slices.Equal(sorted(cert.Leaf.DNSNames), sorted(want)) {
		t.Errorf("names = %v, want %v (the label of the account key)", cert.Leaf.DNSNames, want)
	}
	if cert.PrivateKey.(*ecdsa.PrivateKey).PublicKey.Equal(&a.accountKey().PublicKey) {
		t.Error("the certificate uses the account key; it must have its own")
	}
	inter := x509.NewCertPool()
	for _, der := range cert.Certificate[1:] {
		c, _ := x509.ParseCertificate(der)
		inter.AddCert(c)
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{DNSName: "192-168-1-20." + creds.Names[0], Roots: ti.roots, Intermediates: inter}); err != nil {
		t.Errorf("chain does not verify for an address-name: %v", err)
	}

	// State on disk: dir 0700, every file 0600.
	if fi, err := os.Stat(string(dir)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir mode = %v, %v; want 0700", fi.Mode().Perm(), err)
	}
	for _, k := range stateKeys {
		fi, err := os.Stat(filepath.Join(string(dir), k))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; want 0600", k, fi.Mode().Perm(), err)
		}
	}

	// A second agent cannot run on the same storage while the first runs.
	b, err := New(ti.config(dir))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Run(context.Background()); !errors.Is(err, ErrLocked) {
		t.Fatalf("a second agent on the same state: Run = %v, want ErrLocked", err)
	}
	stop()

	// Restarted, it neither pairs nor reissues.
	serial := cert.Leaf.SerialNumber
	var out testwait.Buffer
	cfg := ti.config(dir)
	cfg.Logger = slog.New(slog.NewTextHandler(&out, nil))
	b, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if b.Certificate() == nil || b.Certificate().Leaf.SerialNumber.Cmp(serial) != 0 {
		t.Fatal("restarted agent does not serve the stored certificate")
	}
	renewals := b.Status().Renewals
	runAgent(t, b)
	// The restarted agent asks ARI when its renewal loop starts and logs
	// its decision to keep the certificate (the status it loaded already
	// has a next renewal, so only the log says the decision is made); a
	// wrong agent would have started pairing or ordering by then.
	out.Wait(t, 20*time.Second, "certificate still good, not renewing yet")
	if st := b.Status(); st.RenewalSource != "ari" || st.NextRenewal.IsZero() || st.Renewals != renewals {
		t.Errorf("status %+v: want a next renewal from ARI and still %d renewals", st, renewals)
	}
	if b.pending.Load() != nil {
		t.Error("the restarted agent started pairing again")
	}
	if got := b.Certificate().Leaf.SerialNumber; got.Cmp(serial) != 0 {
		t.Errorf("restart reissued: serial %x, want %x", got, serial)
	}
}

func TestRenewNowReplacesAndHooksOnce(t *testing.T) {
	t.Parallel()
	ti := newTestIssuer(t)
	var mu sync.Mutex
	var hooked []string
	fail := 1 // the first call of the hook fails, and is retried
	cfg := ti.config(DirStorage(t.TempDir()))
	cfg.OnCertificate = func(ctx context.Context, c *tls.Certificate) error {
		mu.Lock()
		defer mu.Unlock()
		hooked = append(hooked, c.Leaf.SerialNumber.String())
		if fail > 0 {
			fail--
			return errors.New("reload failed")
		}
		return nil
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	runAgent(t, a)
	ti.approve(a)
	waitReady(t, a)
	first := a.Certificate()
	a.RenewNow()
	testwait.For(t, 20*time.Second, "RenewNow to renew", func() bool { return a.Certificate() != first })
	second := a.Certificate()
	old, err := ti.iss.Store().GetCertificate(context.Background(), fmtSerial(first.Leaf))
	if err != nil {
		t.Fatal(err)
	}
	if old.ReplacedBy == "" {
		t.Error("the renewal's order did not name the old certificate in replaces (RFC 9773)")
	}
	testwait.Until(20*time.Second, func() bool { return a.Status().HookSerial == serialHex(second) })
	mu.Lock()
	defer mu.Unlock()
	// The first certificate: a failure then a success (or, if the renewal
	// came first, it was skipped for the newer one); the second: once.
	n2 := 0
	for _, s := range hooked {
		if s == second.Leaf.SerialNumber.String() {
			n2++
		}
	}
	if n2 != 1 {
		t.Errorf("hook ran %d times for the renewed certificate, want 1 (calls %v)", n2, hooked)
	}
	if st := a.Status(); st.Failures < 1 || st.Renewals != 2 {
		t.Errorf("status %+v: want the hook failure counted and 2 certificates", st)
	}
}

func TestDenied(t *testing.T) {
	t.Parallel()
	ti := newTestIssuer(t)
	a, err := New(ti.config(DirStorage(t.TempDir())))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(context.Background()) }()
	if err := ti.iss.Pairing().Deny(context.Background(), waitCode(t, a), "test"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrDenied) {
			t.Errorf("Run = %v, want ErrDenied", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after access_denied")
	}
}

// TestSlowDown: after slow_down the agent polls 5 s more apart. In a
// synctest bubble, where the wait takes no time and is exact.
func TestSlowDown(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := newPairingServer(t)
		p.answers = []string{"slow_down"}
		runAgent(t, p.newAgent(p.config(DirStorage(t.TempDir()))))
		p.waitFor("two polls", func() bool { return len(p.polls) >= 2 })
		// RFC 8628 section 3.5: after slow_down the interval (1 s) grows by 5 s.
		if gap := p.polls[1].Sub(p.polls[0]); gap != 6*time.Second {
			t.Errorf("poll after slow_down came %v later, want 6s", gap)
		}
	})
}

func TestBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 20: time.Minute} {
		for range 50 {
			d := backoff(time.Second, time.Minute, n)
			if d < want/2 || d > want {
				t.Fatalf("backoff(1s, 1m, %d) = %v, want in [%v, %v]", n, d, want/2, want)
			}
		}
	}
}

func TestMaxAge(t *testing.T) {
	for in, want := range map[string]time.Duration{"": time.Minute, "max-age=30": 30 * time.Second, "no-cache, Max-Age=1": 5 * time.Second, "max-age=99999": time.Minute} {
		if got := maxAge(in); got != want {
			t.Errorf("maxAge(%q) = %v, want %v", in, got, want)
		}
	}
}

func serialHex(c *tls.Certificate) string { return fmtSerial(c.Leaf) }

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}

// TestReportAddresses: the allowed addresses are reported at start and
// again after a change, through PUT /api/v1/device/addresses, within the
// half second between two looks at a caller's list. In a synctest bubble,
// where that bound is exact.
func TestReportAddresses(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := newPairingServer(t)
		p.approve()
		var mu sync.Mutex
		list := []netip.Addr{netip.MustParseAddr("192.168.1.20"), netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("fd00::20")}
		cfg := p.config(DirStorage(t.TempDir()))
		cfg.Addresses = func() ([]netip.Addr, error) { mu.Lock(); defer mu.Unlock(); return slices.Clone(list), nil }
		runAgent(t, p.newAgent(cfg))
		p.waitFor("addresses", func() bool { return len(p.addrs) > 0 })
		if got, want := p.addrs[0], []string{"192.168.1.20", "fd00::20"}; !slices.Equal(got, want) {
			t.Errorf("reported %v, want %v (8.8.8.8 is outside the allowed ranges)", got, want)
		}
		mu.Lock()
		list = append(list, netip.MustParseAddr("10.0.0.7"))
		mu.Unlock()
		changed := time.Now()
		p.waitFor("second report", func() bool { return len(p.addrs) > 1 })
		if took := time.Since(changed); took > 500*time.Millisecond {
			t.Errorf("change reported after %v, want within 0.5 s", took)
		}
		if got, want := p.addrs[1], []string{"10.0.0.7", "192.168.1.20", "fd00::20"}; !slices.Equal(got, want) {
			t.Errorf("reported %v, want %v", got, want)
		}
	})
}
