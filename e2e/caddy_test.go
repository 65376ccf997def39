package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lantls/lantls/internal/testwait"
)

// caddyTimeout bounds how long Caddy may take to obtain a certificate and
// serve it: a few seconds when healthy. Caddy retries a failed obtain after
// 60 s, so a run that needs a retry fails here instead of passing slowly.
const caddyTimeout = 30 * time.Second

// caddyBody is what the test site answers.
const caddyBody = "hello from caddy"

// caddy runs Debian's Caddy with a Caddyfile that takes its certificates
// from one issuer with the device's EAB key, in its own storage and home.
type caddy struct {
	bin   string
	iss   *issuer
	dev   *device
	dir   string
	https string // 127.0.0.1:PORT Caddy serves the site on
	http  int
}

func newCaddy(t *testing.T, iss *issuer, d *device) *caddy {
	t.Helper()
	bin := requireTool(t, "caddy", "caddy")
	return &caddy{
		bin:   bin,
		iss:   iss,
		dev:   d,
		dir:   t.TempDir(),
		https: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		http:  freePort(t),
	}
}

// caddyfile is the configuration a user writes: the issuer as acme_ca, its
// root as acme_ca_root, the device's EAB key, and one site for names.
func (c *caddy) caddyfile(names []string) string {
	_, port, _ := net.SplitHostPort(c.https)
	return fmt.Sprintf(`{
	admin off
	storage file_system %s
	acme_ca %s
	acme_ca_root %s
	acme_eab {
		key_id %s
		mac_key %s
	}
	default_bind 127.0.0.1
	http_port %d
	https_port %s
	auto_https disable_redirects
	skip_install_trust
}

%s {
	respond %q
}
`, filepath.Join(c.dir, "storage"), c.iss.Directory, c.iss.Root,
		c.dev.EABKID, c.dev.EABHMACKey, c.http, port, strings.Join(names, ", "), caddyBody)
}

// start runs `caddy run` for a site with names until the test ends or
// stop is called.
func (c *caddy) start(t *testing.T, names []string) (logs *testwait.Buffer, stop func()) {
	t.Helper()
	file := filepath.Join(c.dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(c.caddyfile(names)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := command(context.Background(), c.bin, "run", "--config", file, "--adapter", "caddyfile")
	cmd.Dir = c.dir
	cmd.Env = append(loopbackEnv(), "HOME="+c.dir,
		"XDG_DATA_HOME="+filepath.Join(c.dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(c.dir, "config"))
	logs = &testwait.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting caddy: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(stopTimeout):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
			t.Errorf("caddy did not exit within %s of SIGTERM; killed", stopTimeout)
		}
	}
	t.Cleanup(stop)
	return logs, stop
}

// waitServed waits until Caddy answers a TLS handshake for serverName with
// a chain that verifies against the issuer's root, and returns that chain.
func (c *caddy) waitServed(t *testing.T, serverName string, logs *testwait.Buffer) []*x509.Certificate {
	t.Helper()
	var (
		chain   []*x509.Certificate
		lastErr error
	)
	if testwait.Until(caddyTimeout, func() bool {
		chain, lastErr = c.handshake(serverName)
		return lastErr == nil
	}) {
		return chain
	}
	t.Fatalf("caddy serves no certificate for %s that verifies against the root after %s: %v\n--- caddy log:\n%s",
		serverName, caddyTimeout, lastErr, tail(logs.String(), 60))
	return nil
}

// handshake connects to Caddy with SNI serverName, trusting only the
// issuer's root, and returns the chain Caddy sent.
func (c *caddy) handshake(serverName string) ([]*x509.Certificate, error) {
	d := &tls.Dialer{
		NetDialer: &net.Dialer{Timeout: 2 * time.Second},
		Config:    &tls.Config{ServerName: serverName, RootCAs: c.iss.roots},
	}
	conn, err := d.Dial("tcp", c.https)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState().PeerCertificates, nil
}

// curl fetches https://name/ from Caddy with curl, trusting only the root,
// and checks the page.
func (c *caddy) curl(t *testing.T, name string) {
	t.Helper()
	curl := requireTool(t, "curl", "curl")
	_, port, _ := net.SplitHostPort(c.https)
	r := run(t, nil, curl, "-sS", "--fail", "--max-time", "10", "--cacert", c.iss.Root,
		"--resolve", name+":"+port+":127.0.0.1", "https://"+name+":"+port+"/")
	if r.code != 0 || r.stdout != caddyBody {
		t.Errorf("curl through caddy for %s: want %q\n%s", name, caddyBody, r)
	}
}

// testCaddy has Caddy obtain certificates for L.Z and then *.L.Z, serve
// the site with them, and curl check it with only the root trusted.
//
// Caddy 2.6 obtains one certificate per site name, each at once, and on
// empty storage each makes its own account key and registers it with the
// same EAB key: the issuer answers the first and refuses the others
// (one EAB key, one account key), and Caddy retries those after 60 s. So
// the first run has one name, and the second finds that account in
// storage and uses it for the other name.
func testCaddy(t *testing.T, iss *issuer) {
	dev := addDevice(t, iss)
	c := newCaddy(t, iss, dev)
	base, wildcard := dev.Names[0], dev.Names[1]

	logs, stop := c.start(t, []string{base})
	chain := c.waitServed(t, base, logs)
	if !slices.Equal(chain[0].DNSNames, []string{base}) {
		t.Errorf("caddy serves a leaf for %q, want %q", chain[0].DNSNames, base)
	}
	c.curl(t, base)
	stop()

	logs, _ = c.start(t, []string{base, wildcard})
	addr := "192-168-1-20." + base
	chain = c.waitServed(t, addr, logs)
	if !slices.Equal(chain[0].DNSNames, []string{wildcard}) {
		t.Errorf("caddy serves a leaf for %q to %s, want %q", chain[0].DNSNames, addr, wildcard)
	}
	if err := verifyName(iss, chain, addr); err != nil {
		t.Errorf("chain for %s: %v", addr, err)
	}
	c.curl(t, addr)
	c.curl(t, base)
	if strings.Contains(logs.String(), "could not get certificate") {
		t.Errorf("caddy failed an obtain on the second run, which has the account in its storage:\n%s", tail(logs.String(), 60))
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago, for
// programs that cannot listen on port 0 and report the port.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
