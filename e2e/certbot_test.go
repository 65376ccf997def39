package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// certbot runs Debian's certbot against one issuer with its own
// configuration, work and log directories.
type certbot struct {
	bin  string
	iss  *issuer
	dir  string
	env  []string
	base []string // flags every subcommand takes
}

func newCertbot(t *testing.T, iss *issuer) *certbot {
	t.Helper()
	bin := requireTool(t, "certbot", "certbot")
	dir := t.TempDir()
	return &certbot{
		bin: bin,
		iss: iss,
		dir: dir,
		env: []string{"REQUESTS_CA_BUNDLE=" + iss.Root, "HOME=" + dir},
		base: []string{
			"--server", iss.Directory,
			"--config-dir", filepath.Join(dir, "config"),
			"--work-dir", filepath.Join(dir, "work"),
			"--logs-dir", filepath.Join(dir, "logs"),
			"--non-interactive",
		},
	}
}

// run runs `certbot SUBCOMMAND base-flags args...`.
func (c *certbot) run(t *testing.T, subcommand string, args ...string) result {
	t.Helper()
	return run(t, c.env, c.bin, append(append([]string{subcommand}, c.base...), args...)...)
}

// certonly asks for a certificate named certName for domains with the
// manual authenticator: authorizations are valid already, so its hook is
// never run, but certbot wants one. The account is registered with the
// device's EAB key on first use.
func (c *certbot) certonly(t *testing.T, d *device, certName string, domains ...string) result {
	t.Helper()
	args := []string{
		"--agree-tos", "--register-unsafely-without-email",
		// The = form, because certbot takes a value that starts with "-"
		// for a flag; TestAdminDevices checks that the issuer makes none.
		"--eab-kid=" + d.EABKID, "--eab-hmac-key=" + d.EABHMACKey,
		"--manual", "--preferred-challenges", "dns", "--manual-auth-hook", "/bin/true",
		"--cert-name", certName,
	}
	for _, name := range domains {
		args = append(args, "-d", name)
	}
	return c.run(t, "certonly", args...)
}

func (c *certbot) live(certName, file string) string {
	return filepath.Join(c.dir, "config", "live", certName, file)
}

func TestCertbot(t *testing.T) {
	requireTool(t, "certbot", "certbot")
	t.Parallel()
	iss := startIssuer(t)
	devs := addDevices(t, iss, 2)
	dev, stranger := devs[0], devs[1]
	cb := newCertbot(t, iss)
	const certName = "device"

	t.Run("issue", func(t *testing.T) {
		if r := cb.certonly(t, dev, certName, dev.Names...); r.code != 0 {
			t.Fatalf("certbot certonly failed:\n%s%s", r, cb.log())
		}
	})
	if t.Failed() {
		return
	}
	issued := readChain(t, cb.live(certName, "fullchain.pem"))
	verifyDeviceChain(t, iss, dev, issued)

	t.Run("renew", func(t *testing.T) {
		r := cb.run(t, "renew", "--force-renewal", "--no-random-sleep-on-renew", "--cert-name", certName)
		if r.code != 0 {
			t.Fatalf("certbot renew failed:\n%s%s", r, cb.log())
		}
		renewed := readChain(t, cb.live(certName, "fullchain.pem"))
		requireNewSerial(t, issued[0], renewed[0])
		verifyDeviceChain(t, iss, dev, renewed)
	})

	t.Run("rejected", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			domain string
		}{
			{"another device's name", stranger.Names[0]},
			{"outside the zone", "www.example.com"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := cb.certonly(t, dev, "stolen", tc.domain)
				if r.code == 0 {
					t.Fatalf("certbot got a certificate for %s, which the device does not own:\n%s", tc.domain, r)
				}
				if !strings.Contains(r.output(), "rejectedIdentifier") && !cb.logHasRejection(tc.domain) {
					t.Errorf("neither certbot's output nor its log mention rejectedIdentifier for %s:\n%s%s", tc.domain, r, cb.log())
				}
			})
		}
	})

	t.Run("revoke", func(t *testing.T) {
		current := readChain(t, cb.live(certName, "fullchain.pem"))
		r := cb.run(t, "revoke", "--cert-path", cb.live(certName, "cert.pem"),
			"--reason", "superseded", "--no-delete-after-revoke")
		if r.code != 0 {
			t.Fatalf("certbot revoke failed:\n%s%s", r, cb.log())
		}
		requireRevoked(t, iss, current, reasonSuperseded)
		if current[0].SerialNumber.Cmp(issued[0].SerialNumber) != 0 {
			requireNotRevoked(t, iss, issued)
		}
	})
}

// logHasRejection reports whether certbot's log holds the rejection of
// domain. Debian 12's certbot 2.1 on Python 3.11 prints any ACME error as
// "AttributeError: can't set attribute" (certbot issue #9539, fixed in
// 2.2), so its output cannot show the problem type; its log still does.
func (c *certbot) logHasRejection(domain string) bool {
	b, err := readFileString(filepath.Join(c.dir, "logs", "letsencrypt.log"))
	if err != nil {
		return false
	}
	return strings.Contains(b, "Problem for "+domain+": urn:ietf:params:acme:error:rejectedIdentifier")
}

// log is the tail of certbot's debug log, which holds the server's
// responses that certbot does not print.
func (c *certbot) log() string {
	b, err := readFileString(filepath.Join(c.dir, "logs", "letsencrypt.log"))
	if err != nil {
		return ""
	}
	return "\n--- certbot log:\n" + tail(b, 120)
}
