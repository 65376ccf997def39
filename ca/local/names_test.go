package local

import (
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestSignExtraNames checks that the owner's short names join the ordered
// ones: tv.Z always, tv.local only under a root made to permit "local",
// and nothing outside what the constraints permit.
func TestSignExtraNames(t *testing.T) {
	c, _ := openCA(t)
	req := leafRequest(t, p256Key(t))
	ordered := slices.Clone(req.Names)
	req.Extra = []string{"tv." + testZone, "tv.local", "tv.example.com", "*.evil." + testZone}
	issued, err := c.Sign(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := parseLeaf(t, issued).DNSNames, append(ordered, "tv."+testZone); !slices.Equal(got, want) {
		t.Errorf("names %q, want %q (tv.local needs a root that permits local)", got, want)
	}

	dir := filepath.Join(t.TempDir(), "ca")
	local, err := Open(dir, Options{Zone: testZone, BaseURL: testBaseURL, Now: func() time.Time { return testNow },
		Init: InitOptions{Permit: append(slices.Clone(testPermit), "local"), RootKeyFile: rootKeyPath(dir)}})
	if err != nil {
		t.Fatal(err)
	}
	if !local.AddsName("tv.local") || local.AddsName("tv.example.com") || local.AddsName("*.x.local") {
		t.Errorf("AddsName under a root permitting local: tv.local %v, tv.example.com %v, *.x.local %v",
			local.AddsName("tv.local"), local.AddsName("tv.example.com"), local.AddsName("*.x.local"))
	}
	issued, err = local.Sign(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	leaf := parseLeaf(t, issued)
	if want := append(ordered, "tv."+testZone, "tv.local"); !slices.Equal(leaf.DNSNames, want) {
		t.Errorf("names %q, want %q", leaf.DNSNames, want)
	}
	if _, err := leaf.Verify(verifyOpts(local, "tv.local")); err != nil {
		t.Errorf("tv.local does not verify under a root permitting local: %v", err)
	}
}
