package agent

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps: importing agent for TLSConfig alone links neither issuer code
// nor the sub-packages' mDNS, QR code and proxy code, so a device's own Go
// server stays small. The only modules outside the standard library are
// the ACME client and golang.org/x/sys.
func TestDeps(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the dependencies")
	}
	out, err := exec.Command(gobin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	allowed := []string{
		"github.com/lantls/lantls/agent",
		"github.com/lantls/lantls/names",
		"github.com/lantls/lantls/internal/atomicfile",
		"github.com/lantls/lantls/internal/dirlock",
		"github.com/mholt/acmez/v3/acme",
		"golang.org/x/sys/",
	}
	for _, p := range strings.Fields(string(out)) {
		if !strings.Contains(strings.SplitN(p, "/", 2)[0], ".") {
			continue // the standard library, vendored parts included
		}
		ok := false
		for _, a := range allowed {
			if p == a || (strings.HasSuffix(a, "/") && strings.HasPrefix(p, a)) {
				ok = true
			}
		}
		if !ok {
			t.Errorf("agent links %s; keep it out of the core (a sub-package, or the issuer)", p)
		}
	}
}
