package e2e

import (
	"crypto/x509"
	"path/filepath"
	"testing"
)

// lego runs Debian's lego against one issuer for one device, with its own
// --path.
type lego struct {
	bin  string
	dev  *device
	dir  string
	env  []string
	base []string // global flags, before the subcommand
}

func newLego(t *testing.T, iss *issuer, d *device) *lego {
	t.Helper()
	bin := requireTool(t, "lego", "lego")
	dir := t.TempDir()
	return &lego{
		bin: bin,
		dev: d,
		dir: dir,
		// lego wants a dns-01 solver for a wildcard even when it never has
		// to solve anything; the exec provider with /bin/true is one.
		env: []string{"LEGO_CA_CERTIFICATES=" + iss.Root, "EXEC_PATH=/bin/true", "HOME=" + dir},
		base: []string{
			"--server", iss.Directory,
			"--accept-tos", "--email", "owner@example.com",
			"--eab", "--kid", d.EABKID, "--hmac", d.EABHMACKey,
			"--path", dir, "--key-type", "ec256",
			"--dns", "exec", "--dns.disable-cp",
		},
	}
}

// run runs lego for the device's names: L.Z and *.L.Z.
func (l *lego) run(t *testing.T, args ...string) result {
	t.Helper()
	return l.runFor(t, l.dev.Names, args...)
}

// runFor runs lego with one -d per domain, then args.
func (l *lego) runFor(t *testing.T, domains []string, args ...string) result {
	t.Helper()
	all := append([]string{}, l.base...)
	for _, d := range domains {
		all = append(all, "-d", d)
	}
	return run(t, l.env, l.bin, append(all, args...)...)
}

// chain reads the bundle lego saved for the device (leaf and issuer).
func (l *lego) chain(t *testing.T) []*x509.Certificate {
	t.Helper()
	return readChain(t, filepath.Join(l.dir, "certificates", l.dev.Names[0]+".crt"))
}

func TestLego(t *testing.T) {
	requireTool(t, "lego", "lego")
	t.Parallel()
	iss := startIssuer(t)
	dev := addDevice(t, iss)
	lg := newLego(t, iss, dev)

	t.Run("issue", func(t *testing.T) {
		if r := lg.run(t, "run"); r.code != 0 {
			t.Fatalf("lego run failed:\n%s", r)
		}
	})
	if t.Failed() {
		return
	}
	issued := lg.chain(t)
	verifyDeviceChain(t, iss, dev, issued)
	current := issued

	t.Run("renew", func(t *testing.T) {
		// --days 999 is more than any lifetime, so lego renews now.
		if r := lg.run(t, "renew", "--days", "999", "--no-random-sleep"); r.code != 0 {
			t.Fatalf("lego renew failed:\n%s", r)
		}
		renewed := lg.chain(t)
		requireNewSerial(t, issued[0], renewed[0])
		verifyDeviceChain(t, iss, dev, renewed)
		current = renewed
	})

	t.Run("revoke", func(t *testing.T) {
		// lego revokes the certificate file of each -d; it saved one, under
		// the first name.
		if r := lg.runFor(t, dev.Names[:1], "revoke", "--reason", "0"); r.code != 0 {
			t.Fatalf("lego revoke failed:\n%s", r)
		}
		requireRevoked(t, iss, current, reasonUnspecified)
	})
}
