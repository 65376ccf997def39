package agent

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps: importing agent for TLSConfig alone links no issuer code, none
// of the issuer's modules, and none of the sub-packages' mDNS, QR code and
// proxy code, so a device's own Go server stays small.
func TestDeps(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the dependencies")
	}
	out, err := exec.Command(gobin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	forbidden := []string{
		// The sub-packages and what they link.
		"github.com/lantls/lantls/agent/", "github.com/hashicorp/mdns", "rsc.io/qr", "github.com/mdp/qrterminal",
		"net/http/httputil", "golang.org/x/net/websocket",
		// The issuer's side.
		"github.com/lantls/lantls/issuer", "github.com/lantls/lantls/store", "github.com/lantls/lantls/web",
		"github.com/lantls/lantls/pairing", "github.com/lantls/lantls/acme", "github.com/lantls/lantls/ca",
		"github.com/lantls/lantls/dnsserver", "github.com/lantls/lantls/devices", "github.com/lantls/lantls/users",
		"github.com/jackc/", "modernc.org/", "github.com/prometheus/", "github.com/go-webauthn/",
		"github.com/pressly/goose", "github.com/letsencrypt/pebble",
	}
	for _, p := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.HasSuffix(f, "/") && strings.HasPrefix(p, f) || p == f || strings.HasPrefix(p, f+"/") {
				t.Errorf("agent links %s; keep it out of the core (a sub-package, or the issuer)", p)
			}
		}
	}
}
