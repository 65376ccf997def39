package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lantls/lantls/agent"
)

// TestAttestStockClients runs certbot and lego against an issuer with
// attestation roots and a model that requires attestation: devices of
// other models (stock clients report none) still get certificates on
// their EAB key alone; once the rule covers their model too, they get none,
// and the problem says why.
func TestAttestStockClients(t *testing.T) {
	requireTool(t, "certbot", "certbot")
	requireTool(t, "lego", "lego")
	t.Parallel()
	maker, err := agent.NewTestManufacturer("E2E Maker")
	if err != nil {
		t.Fatal(err)
	}
	roots := filepath.Join(t.TempDir(), "attest-roots")
	if err := os.Mkdir(roots, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(roots, "maker.pem"), maker.RootPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	iss := startIssuerOn(t, t.TempDir(), "127.0.0.1:0", "--attest-roots", roots)
	if r := iss.admin(t, "attest", "set", "Acme TV", "required"); r.code != 0 {
		t.Fatalf("attest set: %s", r)
	}
	devs := addDevices(t, iss, 2)

	cb := newCertbot(t, iss)
	if r := cb.certonly(t, devs[0], "device", devs[0].Names...); r.code != 0 {
		t.Fatalf("certbot, for a model without the rule:\n%s%s", r, cb.log())
	}
	verifyDeviceChain(t, iss, devs[0], readChain(t, cb.live("device", "fullchain.pem")))
	lg := newLego(t, iss, devs[1])
	if r := lg.run(t, "run"); r.code != 0 {
		t.Fatalf("lego, for a model without the rule:\n%s", r)
	}
	verifyDeviceChain(t, iss, devs[1], lg.chain(t))

	// Devices added for stock clients have the model "".
	if r := iss.admin(t, "attest", "set", "", "required"); r.code != 0 {
		t.Fatalf("attest set: %s", r)
	}
	r := lg.run(t, "renew", "--days", "999", "--no-random-sleep")
	if r.code == 0 || !strings.Contains(r.output(), "must prove their key in hardware") {
		t.Errorf("lego renewed for a model that requires attestation, or without the reason:\n%s", r)
	}
	r = cb.run(t, "renew", "--force-renewal", "--no-random-sleep-on-renew", "--cert-name", "device")
	if r.code == 0 || !strings.Contains(r.output()+cb.log(), "must prove their key in hardware") {
		t.Errorf("certbot renewed for a model that requires attestation, or without the reason:\n%s%s", r, cb.log())
	}
	if r := iss.admin(t, "attest", "list"); !strings.Contains(r.stdout, `"Acme TV"  required`) {
		t.Errorf("attest list:\n%s", r)
	}
}
