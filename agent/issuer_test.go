package agent

import (
	"context"
	"crypto/x509"
	"net/netip"
	"testing"
	"time"

	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/internal/testwait"
	"github.com/lantls/lantls/issuer"
	"github.com/lantls/lantls/issuer/issuertest"
	"github.com/lantls/lantls/store"
)

// testIssuer is a real issuer (ACME, pairing, device API) for the agent's
// tests; the owner approves through the pairing service's Go API, as the
// owner UI does.
type testIssuer struct {
	t     *testing.T
	iss   *issuer.Issuer
	roots *x509.CertPool
	owner *store.Owner
}

func newTestIssuer(t *testing.T) *testIssuer {
	t.Helper()
	iss, roots := issuertest.Start(t, issuer.Config{})
	owner, err := iss.Store().EnsureOwner(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	return &testIssuer{t: t, iss: iss, roots: roots, owner: owner}
}

func (ti *testIssuer) config(s Storage) Config {
	return Config{Issuer: ti.iss.Info().BaseURL, Roots: ti.roots, Storage: s, Model: "test", Hostname: "tv", RetryBase: 50 * time.Millisecond, Logger: quiet,
		Addresses: func() ([]netip.Addr, error) { return testAddrs(), nil }}
}

// approve waits for a's user code and approves it as the owner.
func (ti *testIssuer) approve(a *Agent) {
	ti.t.Helper()
	code := waitCode(ti.t, a)
	if err := ti.iss.Pairing().Approve(context.Background(), code, ti.owner.ID, "test"); err != nil {
		ti.t.Fatalf("approve %s: %v", code, err)
	}
}

// grant sets the origins the owner grants a's device.
func (ti *testIssuer) grant(a *Agent, origins ...string) {
	ti.t.Helper()
	ctx := context.Background()
	d, err := ti.iss.Store().GetDeviceByLabel(ctx, a.credentials().Label)
	if err != nil {
		ti.t.Fatal(err)
	}
	if _, err := devices.SetGrants(ctx, ti.iss.Store(), devices.Operator, d.ID, origins); err != nil {
		ti.t.Fatal(err)
	}
}

func waitCode(t *testing.T, a *Agent) string {
	t.Helper()
	testwait.For(t, 20*time.Second, "a user code", func() bool { return a.pending.Load() != nil })
	return a.pending.Load().UserCode
}
