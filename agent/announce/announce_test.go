package announce

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/mdns"
	"github.com/miekg/dns"
)

// TestAnnounce runs the DNS-SD announcement on the loopback interface of
// a network namespace the test makes, so nothing reaches the host's LAN:
// the test binary re-runs itself inside the namespace.
func TestAnnounce(t *testing.T) {
	if os.Getenv("LANTLS_MDNS_NETNS") != "" {
		announceInNamespace(t)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a network namespace for multicast; run as root (scripts/test does in CI)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command (iproute2) to make a network namespace")
	}
	t.Parallel()
	ns := fmt.Sprintf("lantls-mdns-%d", os.Getpid())
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("cannot make a network namespace here (ip netns add: %v: %s); the DNS-SD test needs one to multicast without touching the LAN", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	ip("-n", ns, "link", "set", "lo", "up", "multicast", "on")
	ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", "lo")
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^TestAnnounce$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "LANTLS_MDNS_NETNS="+ns)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("announcement test inside namespace %s: %v\n%s", ns, err, out)
	}
	t.Logf("inside %s:\n%s", ns, out)
}

func announceInNamespace(t *testing.T) {
	cert := selfSigned(t)
	d := &device{cert: cert, label: "abcdefghijklmnopqrstuvwxyz"}
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	// A listener on the group sees the unsolicited announcement and the
	// goodbye.
	group, err := net.ListenMulticastUDP("udp4", lo, &net.UDPAddr{IP: net.ParseIP("224.0.0.251"), Port: 5353})
	if err != nil {
		t.Fatal(err)
	}
	defer group.Close()
	msgs := make(chan *dns.Msg, 64)
	go func() {
		buf := make([]byte, 9000)
		for {
			n, from, err := group.ReadFromUDP(buf)
			if err != nil {
				return
			}
			m := new(dns.Msg)
			if m.Unpack(buf[:n]) == nil && m.Response && from.Port == 5353 {
				msgs <- m
			}
		}
	}()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, d, Config{Port: "8443", Interface: "lo", Instance: "Living room TV", Logger: slog.New(slog.DiscardHandler)})
	}()

	wantTXT := []string{"name=127-0-0-1.abcdefghijklmnopqrstuvwxyz.lan.test", "fp=" + SPKIFingerprint(cert.Leaf)}
	if m := waitMsg(t, msgs, func(m *dns.Msg) bool { return ptrTTL(m) > 0 }); !slices.Equal(txtOf(m), wantTXT) {
		t.Errorf("announced TXT %q, want %q", txtOf(m), wantTXT)
	}

	// A DNS-SD browse (another library's client) finds the service.
	entries := make(chan *mdns.ServiceEntry, 8)
	err = mdns.QueryContext(context.Background(), &mdns.QueryParam{Service: "_https._tcp", Domain: "local", Timeout: 2 * time.Second,
		Interface: lo, Entries: entries, DisableIPv6: true, Logger: log.New(io.Discard, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	close(entries)
	var found *mdns.ServiceEntry
	for e := range entries {
		if strings.HasPrefix(e.Name, "Living room TV.") || strings.HasPrefix(e.Name, `Living\ room\ TV.`) {
			found = e
		}
	}
	if found == nil {
		t.Fatal("browse for _https._tcp found nothing")
	}
	if found.Port != 8443 || !slices.Equal(found.InfoFields, wantTXT) || !found.AddrV4.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("browse found %+v", found)
	}

	// Unpaired, the device has no certificate: the service is withdrawn
	// with a goodbye.
	d.set(nil)
	waitMsg(t, msgs, func(m *dns.Msg) bool { return ptrTTL(m) == 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Log("announced, answered a browse, and said goodbye when the certificate went")
}

func waitMsg(t *testing.T, msgs <-chan *dns.Msg, ok func(*dns.Msg) bool) *dns.Msg {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case m := <-msgs:
			if ptrTTL(m) >= 0 && ok(m) {
				return m
			}
		case <-timeout:
			t.Fatal("no matching mDNS message within 5s")
		}
	}
}

// ptrTTL is the TTL of the _https._tcp PTR record in m, or -1.
func ptrTTL(m *dns.Msg) int {
	for _, rr := range m.Answer {
		if p, ok := rr.(*dns.PTR); ok && p.Hdr.Name == "_https._tcp.local." {
			return int(p.Hdr.Ttl)
		}
	}
	return -1
}

func txtOf(m *dns.Msg) []string {
	for _, rr := range append(m.Answer, m.Extra...) {
		if t, ok := rr.(*dns.TXT); ok {
			return t.Txt
		}
	}
	return nil
}

// device is a paired device for the announcement; set takes its
// certificate away, as an unpair does.
type device struct {
	mu    sync.Mutex
	cert  *tls.Certificate
	label string
}

func (d *device) set(c *tls.Certificate) { d.mu.Lock(); d.cert = c; d.mu.Unlock() }

func (d *device) Certificate() *tls.Certificate {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cert
}

func (d *device) Identity() (string, string) { return d.label, "lan.test" }
func (d *device) Addresses() []netip.Addr    { return nil }

func selfSigned(t testing.TB) *tls.Certificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "t"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}
