package agent

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/internal/testwait"
	"github.com/lantls/lantls/store"
)

// Tests of the agent off the happy path, where devices live: booting
// before the network, outages, unpair and revoke, damaged state.

// TestZeroConfigShowsCode: with neither OnPairing nor Logger, the code and
// the fingerprint reach the default logger (stderr), where a person sees
// them. Not parallel: it swaps slog's default.
func TestZeroConfigShowsCode(t *testing.T) {
	ti := newTestIssuer(t)
	var out testwait.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&out, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	a, err := New(Config{Issuer: ti.iss.Info().BaseURL, Roots: ti.roots, Storage: DirStorage(t.TempDir())})
	if err != nil {
		t.Fatal(err)
	}
	runAgent(t, a)
	code := waitCode(t, a)
	out.Wait(t, 10*time.Second, code)
	if fp := a.Pending().Fingerprint; fp == "" || !strings.Contains(out.String(), fp) {
		t.Errorf("the fingerprint %q is not in the log:\n%s", fp, out.String())
	}
}

// TestUntrustedIssuer: an issuer whose root the agent was not given is an
// error Run returns at once, saying what to do, not a retry forever.
func TestUntrustedIssuer(t *testing.T) {
	t.Parallel()
	ti := newTestIssuer(t)
	cfg := ti.config(DirStorage(t.TempDir()))
	cfg.Roots = nil
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = runUntil(t, a, 20*time.Second)
	if !errors.Is(err, ErrUntrustedIssuer) || !strings.Contains(err.Error(), "root") {
		t.Errorf("Run = %v, want ErrUntrustedIssuer naming the root", err)
	}
}

// TestIssuerURLIsDirectory: the ACME directory URL given as the issuer is
// an error that says to give the base URL.
func TestIssuerURLIsDirectory(t *testing.T) {
	t.Parallel()
	ti := newTestIssuer(t)
	cfg := ti.config(DirStorage(t.TempDir()))
	cfg.Issuer = ti.iss.Info().Directory
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := runUntil(t, a, 20*time.Second); err == nil || !strings.Contains(err.Error(), "base URL") {
		t.Errorf("Run = %v, want an error asking for the base URL", err)
	}
}

// runUntil runs a and returns what Run returns, failing after d.
func runUntil(t *testing.T, a *Agent, d time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { done <- a.Run(ctx) }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		cancel()
		<-done
		t.Fatalf("Run did not return within %v; status %+v", d, a.Status())
		return nil
	}
}

// TestPairsWhenIssuerComesUp: an agent started before its issuer can be
// reached keeps trying, and pairs once it can.
func TestPairsWhenIssuerComesUp(t *testing.T) {
	t.Parallel()
	ti := newTestIssuer(t)
	g := newGate(t, strings.TrimPrefix(ti.iss.Info().BaseURL, "https://"))
	cfg := ti.config(DirStorage(t.TempDir()))
	cfg.Issuer = g.url()
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := runAgent(t, a)
	if !testwait.Until(20*time.Second, func() bool { return a.Status().Failures >= 2 || len(done) > 0 }) {
		t.Fatalf("no failed attempts recorded: %+v", a.Status())
	}
	select {
	case err := <-done:
		t.Fatalf("Run returned %v while the issuer was down", err)
	default:
	}
	g.open()
	ti.approve(a)
	waitReady(t, a)
}

// TestPollOutage: after an outage while the code waits, the agent polls
// at the server's interval again, so an approval after the outage lands
// a second later; before, the doubled interval stayed. In a synctest
// bubble, where the outage's backoff takes no time and the intervals are
// exact.
func TestPollOutage(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := newPairingServer(t)
		cfg := p.config(DirStorage(t.TempDir()))
		var out testwait.Buffer
		cfg.Logger = slog.New(slog.NewTextHandler(&out, nil))
		runAgent(t, p.newAgent(cfg))
		p.waitFor("a first poll", func() bool { return len(p.polls) >= 1 })
		synctest.Wait() // the agent has its answer and waits for the next poll
		p.net.setDown(true)
		// Three failed polls, 1, 2 and 4 s apart: the wait has grown to 8 s.
		out.WaitCount(t, 20*time.Second, "poll for pairing token", 3)
		p.net.setDown(false)
		p.mu.Lock()
		n := len(p.polls)
		p.mu.Unlock()
		p.waitFor("a poll after the outage", func() bool { return len(p.polls) > n })
		p.approve()
		p.waitFor("the approved poll", func() bool { return len(p.polls) > n+1 })
		if gap := p.polls[n+1].Sub(p.polls[n]); gap != time.Second {
			t.Errorf("the first poll after the approval came %v after the one before, want the 1 s interval", gap)
		}
		if gap := p.polls[n].Sub(p.polls[n-1]); gap != (1+2+4+8)*time.Second {
			t.Errorf("the outage's polls waited %v in all, want 1+2+4+8 s", gap)
		}
	})
}

func TestPollBackoff(t *testing.T) {
	for _, tc := range []struct{ wait, interval, want time.Duration }{
		{time.Second, time.Second, 2 * time.Second},
		{16 * time.Second, time.Second, pollRetryMax},
		{pollRetryMax, time.Second, pollRetryMax},
		{time.Second, 40 * time.Second, 40 * time.Second}, // the server's interval wins over the cap
	} {
		if got := pollBackoff(tc.wait, tc.interval); got != tc.want {
			t.Errorf("pollBackoff(%v, %v) = %v, want %v", tc.wait, tc.interval, got, tc.want)
		}
	}
	now := time.Now()
	if got := untilExpiry(5*time.Second, now.Add(2*time.Second), now); got != 2*time.Second {
		t.Errorf("untilExpiry = %v, want the 2 s left", got)
	}
	if got := untilExpiry(5*time.Second, time.Time{}, now); got != 5*time.Second {
		t.Errorf("untilExpiry without expiry = %v", got)
	}
}

// pairedFast is a paired agent that fetches its policy every 100 ms, so
// that an unpair or a revocation reaches it at once (policyMaxWait, a
// minute, bounds it otherwise; TestMaxAge checks that bound).
func pairedFast(t *testing.T, ti *testIssuer, cfg Config) (*Agent, <-chan error) {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.policyMax = 100 * time.Millisecond
	done := runAgent(t, a)
	ti.approve(a)
	waitReady(t, a)
	return a, done
}

// TestUnpairReachesAgent: an unpair in the owner's UI (devices.Unpair)
// makes a running agent stop serving its certificate, wipe its state and
// return ErrUnpaired.
func TestUnpairReachesAgent(t *testing.T) {
	t.Parallel()
	ti := newTestIssuer(t)
	dir := t.TempDir()
	a, done := pairedFast(t, ti, ti.config(DirStorage(dir)))
	d, err := ti.iss.Store().GetDeviceByLabel(context.Background(), a.credentials().Label)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := devices.Unpair(context.Background(), ti.iss.Store(), devices.Actor{OwnerID: ti.owner.ID, Name: "alice"}, d.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrUnpaired) {
			t.Fatalf("Run = %v, want ErrUnpaired", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after the unpair")
	}
	if a.Certificate() != nil {
		t.Error("the agent still serves the revoked certificate")
	}
	left, _ := os.ReadDir(dir)
	for _, e := range left {
		if e.Name() != "lock" {
			t.Errorf("%s left in the state dir after the unpair", e.Name())
		}
	}
}

// TestUnpairPairsAgain: with PairAgain the agent shows a new code, under a
// new key, instead of returning.
func TestUnpairPairsAgain(t *testing.T) {
	t.Parallel()
	ti := newTestIssuer(t)
	cfg := ti.config(DirStorage(t.TempDir()))
	cfg.PairAgain = true
	a, _ := pairedFast(t, ti, cfg)
	label := a.credentials().Label
	if _, err := devices.Revoke(context.Background(), ti.iss.Store(), label, time.Now()); err != nil {
		t.Fatal(err)
	}
	if !testwait.Until(20*time.Second, func() bool { return a.Pending() != nil }) {
		t.Fatalf("no new code after the unpair; status %+v", a.Status())
	}
	if a.Pending().Label == label {
		t.Fatal("pairs again with the unpaired key")
	}
	if a.Certificate() != nil {
		t.Error("the agent still serves the revoked certificate")
	}
}

// TestRevokeReachesAgent: "Revoke certificates" in the owner's UI makes a
// running agent replace its certificate at once.
func TestRevokeReachesAgent(t *testing.T) {
	t.Parallel()
	ti := newTestIssuer(t)
	a, _ := pairedFast(t, ti, ti.config(DirStorage(t.TempDir())))
	first := a.Certificate()
	d, err := ti.iss.Store().GetDeviceByLabel(context.Background(), a.credentials().Label)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := devices.RevokeCertificates(context.Background(), ti.iss.Store(), devices.Operator, d.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if !testwait.Until(20*time.Second, func() bool { c := a.Certificate(); return c != first && c != nil }) {
		t.Fatalf("still serving the revoked certificate; status %+v", a.Status())
	}
}

// TestCorruptState: a damaged cache is rebuilt; damaged credentials or
// account key are ErrCorruptState, which Wipe clears.
func TestCorruptState(t *testing.T) {
	t.Parallel()
	ti := newTestIssuer(t)
	dir := t.TempDir()
	a, err := New(ti.config(DirStorage(dir)))
	if err != nil {
		t.Fatal(err)
	}
	stop := runAgentStoppable(t, a)
	ti.approve(a)
	waitReady(t, a)
	serial := fmtSerial(a.Certificate().Leaf)
	stop()
	saved := map[string][]byte{}
	for _, k := range stateKeys {
		saved[k], _ = os.ReadFile(filepath.Join(dir, k))
	}
	for _, tc := range []struct {
		key     string
		corrupt bool
	}{{keyStatus, false}, {keyCredentials, true}, {keyAccount, true}} {
		t.Run(tc.key, func(t *testing.T) {
			for k, b := range saved {
				os.WriteFile(filepath.Join(dir, k), b, 0o600)
			}
			os.WriteFile(filepath.Join(dir, tc.key), []byte("\x00garbage{"), 0o600)
			b, err := New(ti.config(DirStorage(dir)))
			if !tc.corrupt {
				if err != nil {
					t.Fatalf("New with a damaged %s: %v, want it rebuilt", tc.key, err)
				}
				if st := b.Status(); st.Serial != serial || st.Label == "" || len(st.Names) == 0 {
					t.Errorf("rebuilt status %+v", st)
				}
				return
			}
			if !errors.Is(err, ErrCorruptState) || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("New with a damaged %s: %v, want ErrCorruptState naming it", tc.key, err)
			}
			if _, err := ReadStatus(context.Background(), DirStorage(dir)); !errors.Is(err, ErrCorruptState) {
				t.Errorf("ReadStatus: %v, want ErrCorruptState", err)
			}
			if err := Wipe(context.Background(), DirStorage(dir)); err != nil {
				t.Fatalf("Wipe: %v", err)
			}
			if _, err := New(ti.config(DirStorage(dir))); err != nil {
				t.Errorf("New after Wipe: %v", err)
			}
		})
	}
}

// TestRenewNowRetried: a forced renewal that fails is tried again with
// backoff until it succeeds, not dropped for ARI's later time.
func TestRenewNowRetried(t *testing.T) {
	t.Parallel()
	a, ti := pairedAgent(t)
	first := a.Certificate()
	ctx := context.Background()
	st := ti.iss.Store()
	d, err := st.GetDeviceByLabel(ctx, a.credentials().Label)
	if err != nil {
		t.Fatal(err)
	}
	accts, err := st.ListAccountsByDevice(ctx, d.ID)
	if err != nil || len(accts) != 1 {
		t.Fatalf("accounts: %v, %v", accts, err)
	}
	setAccount := func(s store.Status) {
		t.Helper()
		acct := accts[0]
		acct.Status = s
		if err := st.UpdateAccount(ctx, acct); err != nil {
			t.Fatal(err)
		}
	}
	setAccount(store.StatusDeactivated) // the issuer refuses the renewal
	a.RenewNow()
	if !testwait.Until(20*time.Second, func() bool { return a.Status().Failures >= 2 }) {
		t.Fatalf("the forced renewal did not fail twice: %+v", a.Status())
	}
	setAccount(store.StatusValid)
	if !testwait.Until(20*time.Second, func() bool { return a.Certificate() != first }) {
		t.Fatalf("the forced renewal was not retried after it failed: %+v", a.Status())
	}
}

// TestIssuerChangedAfterPairing: a configured issuer URL other than the one
// the device paired with is logged, and the paired one is used.
func TestIssuerChangedAfterPairing(t *testing.T) {
	t.Parallel()
	ti := newTestIssuer(t)
	dir := DirStorage(t.TempDir())
	a, err := New(ti.config(dir))
	if err != nil {
		t.Fatal(err)
	}
	stop := runAgentStoppable(t, a)
	ti.approve(a)
	waitReady(t, a)
	stop()
	var out testwait.Buffer
	cfg := ti.config(dir)
	cfg.Issuer = "https://other.lan.test:8443"
	cfg.Logger = slog.New(slog.NewTextHandler(&out, nil))
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "another issuer URL") || !strings.Contains(out.String(), "other.lan.test") {
		t.Errorf("no warning about the changed issuer URL:\n%s", out.String())
	}
	if got := b.Status().Issuer; got != ti.iss.Info().BaseURL {
		t.Errorf("status issuer %q, want the paired %q", got, ti.iss.Info().BaseURL)
	}
}
