package agent

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/internal/testwait"
)

// TestShortNameReachesCertificate: a short name the owner gives the device
// (devices.SetShortName) is in the policy, and the agent renews at once
// for a certificate that carries it; removing it renews again without it.
func TestShortNameReachesCertificate(t *testing.T) {
	t.Parallel()
	ti := newTestIssuer(t)
	a, _ := pairedFast(t, ti, ti.config(DirStorage(t.TempDir())))
	d, err := ti.iss.Store().GetDeviceByLabel(context.Background(), a.credentials().Label)
	if err != nil {
		t.Fatal(err)
	}
	owner := devices.Actor{OwnerID: ti.owner.ID, Name: "alice"}
	tv := "tv." + ti.iss.Info().Zone
	waitNames := func(what string, ok func([]string) bool) {
		t.Helper()
		if !testwait.Until(20*time.Second, func() bool { c := a.Certificate(); return c != nil && ok(c.Leaf.DNSNames) }) {
			t.Fatalf("%s: served names %q", what, a.Certificate().Leaf.DNSNames)
		}
	}
	if err := devices.SetShortName(context.Background(), ti.iss.Store(), owner, d.ID, "tv", false); err != nil {
		t.Fatal(err)
	}
	waitNames("the new short name", func(n []string) bool { return slices.Contains(n, tv) })
	serial := a.Certificate().Leaf.SerialNumber
	if err := devices.SetShortName(context.Background(), ti.iss.Store(), owner, d.ID, "", false); err != nil {
		t.Fatal(err)
	}
	waitNames("the short name removed", func(n []string) bool { return !slices.Contains(n, tv) })
	if a.Certificate().Leaf.SerialNumber.Cmp(serial) == 0 {
		t.Error("the certificate was not replaced")
	}
}
