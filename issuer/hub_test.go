package issuer_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/lantls/lantls/issuer"
)

// TestHubZone checks that a hub's zone is made once, unique, under
// home.arpa, and found again at every later start; that a data dir made
// before it was a hub keeps its zone; and that a damaged file is an error,
// not a new zone (which would not match the CA).
func TestHubZone(t *testing.T) {
	dir := t.TempDir()
	z1, err := issuer.HubZone(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^hub-[a-z2-7]{8}\.home\.arpa$`).MatchString(z1) {
		t.Errorf("zone %q, want hub-XXXXXXXX.home.arpa", z1)
	}
	if again, err := issuer.HubZone(dir); err != nil || again != z1 {
		t.Errorf("second start: %q, %v; want %q", again, err, z1)
	}
	if other, _ := issuer.HubZone(t.TempDir()); other == z1 {
		t.Errorf("two hubs share zone %q", z1)
	}

	old := t.TempDir()
	if err := os.WriteFile(filepath.Join(old, issuer.InfoFile), []byte(`{"zone": "lan.home.arpa"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if z, err := issuer.HubZone(old); err != nil || z != "lan.home.arpa" {
		t.Errorf("an earlier issuer's data dir: %q, %v; want its zone lan.home.arpa", z, err)
	}

	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, issuer.HubZoneFile), []byte("not a zone!\n"), 0o644)
	if z, err := issuer.HubZone(bad); err == nil {
		t.Errorf("a damaged %s gave zone %q, want an error", issuer.HubZoneFile, z)
	}
}
