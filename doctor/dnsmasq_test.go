package doctor

import (
	"bytes"
	"context"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/lantls/lantls/internal/testwait"
)

// startDnsmasq runs Debian's dnsmasq on 127.0.0.1, forwarding the zone to
// upstream, with args added, and returns its address once it answers.
func startDnsmasq(t *testing.T, upstream string, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("dnsmasq")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/dnsmasq"); err != nil {
			requireOrSkip(t, "dnsmasq is not installed (Debian: dnsmasq-base)")
		}
	}
	host, port, _ := net.SplitHostPort(upstream)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	_, listenPort, _ := net.SplitHostPort(addr)
	var stderr bytes.Buffer
	cmd := exec.Command(bin, append([]string{
		"--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--pid-file=",
		"--listen-address=127.0.0.1", "--bind-interfaces", "--port=" + listenPort,
		"--server=/" + zone + "/" + host + "#" + port, "--cache-size=0", "--log-facility=-",
	}, args...)...)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		t.Logf("dnsmasq %v:\n%s", args, stderr.String())
	})
	c := &resolverClient{addr: addr, timeout: 200 * time.Millisecond}
	if testwait.Until(10*time.Second, func() bool {
		m, err := c.exchange(context.Background(), zone, dns.TypeSOA)
		return err == nil && m.Rcode == dns.RcodeSuccess
	}) {
		return addr
	}
	t.Fatalf("dnsmasq on port %s did not answer within 10 s: %s", strconv.Quote(listenPort), stderr.String())
	return ""
}

// TestDnsmasqStopDNSRebind runs the doctor against dnsmasq with
// --stop-dns-rebind, the filter OpenWrt, Pi-hole and many home routers
// turn on: the rebind check fails with the fix, and with the fix applied
// (--rebind-domain-ok) every check passes.
func TestDnsmasqStopDNSRebind(t *testing.T) {
	p := newPKI(t)
	url := serveDevice(t, p.leaf(t, time.Now().Add(-time.Hour), time.Now().Add(47*24*time.Hour)))
	auth := serveDNS(t, authoritative)

	filtering := startDnsmasq(t, auth, "--stop-dns-rebind")
	r := run(t, Config{Device: url, Resolver: filtering, Roots: p.pool()})
	want(t, r, map[string]Status{"zone": OK, "rebind": Fail, "resolve": Fail})
	wantRebindFix(t, check(r, "rebind"))

	fixed := startDnsmasq(t, auth, "--stop-dns-rebind", "--rebind-domain-ok=/"+zone+"/")
	r = run(t, Config{Device: url, Resolver: fixed, Roots: p.pool()})
	want(t, r, map[string]Status{"zone": OK, "rebind": OK, "resolve": OK, "reach": OK, "certificate": OK, "trust": OK, "renewal": OK})
}
