package agent

import (
	"context"
	"testing"
)

// pairedAgent runs an agent that has paired and holds a certificate.
func pairedAgent(t *testing.T) (*Agent, *testIssuer) {
	t.Helper()
	ti := newTestIssuer(t)
	a, err := New(ti.config(DirStorage(t.TempDir())))
	if err != nil {
		t.Fatal(err)
	}
	runAgent(t, a)
	ti.approve(a)
	waitReady(t, a)
	return a, ti
}

// TestPolicyRefresh: a changed policy replaces the origins; an unchanged
// one costs a 304 that keeps them.
func TestPolicyRefresh(t *testing.T) {
	t.Parallel()
	a, p := pairedAgent(t)
	p.grant(a, "https://other.example")
	if _, err := a.refreshPolicy(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a.OriginGranted("https://app.vendor.example") || !a.OriginGranted("https://Other.example") {
		t.Error("policy not replaced")
	}
	before := a.origins.Load()
	a.refreshPolicy(context.Background())
	if a.origins.Load() != before {
		t.Error("an unchanged policy (304) replaced the origin set")
	}
}
