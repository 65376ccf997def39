package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lantls/lantls/internal/testwait"
)

// TestHubIsolatedLAN runs `lantls issuer --hub` in a network namespace
// that has only loopback and one end of a veth pair the test creates, so
// the hub has no route anywhere but to the device's namespace at the other
// end. An agent there pairs across the veth (approved with `lantls admin
// pair approve`), gets a certificate from the hub's local signer, and its
// page loads over HTTPS by its address-name and then by the short name the
// owner gives it, both answered by the hub's DNS; a second device cannot
// take that name.
func TestHubIsolatedLAN(t *testing.T) {
	ns := newLAN(t)
	requireTool(t, "dig", "bind9-dnsutils")
	requireTool(t, "curl", "curl")

	if r := nsRun(t, ns.hub, "ip", "route", "show", "default"); strings.TrimSpace(r.stdout) != "" {
		t.Fatalf("the hub's namespace has a default route: %s", r.stdout)
	}
	data := filepath.Join(t.TempDir(), "hub")
	hub := startIn(t, ns.hub, nil, lantlsBin, "issuer", "--hub", "--data", data)
	ready := hub.waitOutput(t, regexp.MustCompile(`(?s)zone\s+(\S+).*Create the first admin from a phone.*Scan to open it`), readyTimeout)
	hubZone := regexp.MustCompile(`zone\s+(\S+)`).FindStringSubmatch(ready[0])[1]
	if !regexp.MustCompile(`^hub-[a-z2-7]{8}\.home\.arpa$`).MatchString(hubZone) {
		t.Errorf("hub zone %q, want hub-XXXXXXXX.home.arpa", hubZone)
	}
	if !strings.Contains(hub.stdout.String(), "https://"+ns.hubIP+"/setup?token=") || !strings.Contains(hub.stdout.String(), "█") {
		t.Errorf("the hub does not print its setup link on %s with a QR code:\n%s", ns.hubIP, hub.logs())
	}
	root := filepath.Join(data, "ca", "root.pem")

	// The device: its UI on its own loopback, the agent in front of it on
	// the veth, checking its names through the hub's DNS.
	uiAddr := "127.0.0.1:8081"
	startIn(t, ns.dev, []string{hubUIEnv + "=" + uiAddr}, os.Args[0], "-test.run=^$")
	agentData := filepath.Join(t.TempDir(), "agent")
	agent := startIn(t, ns.dev, nil, agentBinary(t), "--issuer", "https://"+ns.hubIP, "--issuer-ca", root, "--data", agentData,
		"--model", "e2e hub TV", "--proxy-to", "http://"+uiAddr, "--listen", ns.devIP+":443", "--mdns=false",
		"--name-check", ns.hubIP+":53", "--log-level", "debug")
	code := agent.waitOutput(t, userCodeLine, readyTimeout)[1]
	mustRun(t, nil, lantlsBin, "admin", "--data", data, "pair", "approve", code, "--owner", "alice", "--new-owner")
	agent.waitOutput(t, servingLine, readyTimeout)
	label := agentStatus(t, agentData).Label

	addrName := strings.ReplaceAll(ns.devIP, ".", "-") + "." + label + "." + hubZone
	digWant(t, ns.hub, ns.hubIP, addrName, ns.devIP)
	curlWant(t, ns.hub, root, addrName, ns.devIP, "device UI on the isolated LAN")

	// A short name: in the hub's DNS at once, in the next certificate.
	mustRun(t, nil, lantlsBin, "admin", "--data", data, "device", "name", label, "tv")
	tv := "tv." + hubZone
	digWant(t, ns.hub, ns.hubIP, tv, ns.devIP)
	agent.cmd.Process.Signal(syscall.SIGUSR1) // renew now
	waitFor(t, readyTimeout, "the short name in the device's certificate", func() bool {
		r := nsRun(t, ns.hub, "curl", "-sS", "--max-time", "5", "--cacert", root, "--resolve", tv+":443:"+ns.devIP, "https://"+tv+"/")
		return r.code == 0 && strings.Contains(r.stdout, "device UI on the isolated LAN")
	})

	// lantls doctor, on the hub's side of the LAN with the hub as its
	// resolver and the hub's root as the system's (SSL_CERT_FILE), finds
	// every step good; with no root trusted it says how to trust it.
	doctor := func(env ...string) result {
		args := append(env, "HOME="+t.TempDir(), lantlsBin, "doctor", "--json", "--device", "https://"+tv+"/", "--issuer", "https://"+ns.hubIP, "--resolver", ns.hubIP)
		return nsRun(t, ns.hub, "env", args...)
	}
	if r := doctor("SSL_CERT_FILE=" + root); r.code != 0 || !strings.Contains(r.stdout, `"ok": true`) {
		t.Errorf("lantls doctor against the hub:\n%s", r)
	}
	empty := filepath.Join(t.TempDir(), "none.pem")
	os.WriteFile(empty, nil, 0o644)
	if r := doctor("SSL_CERT_FILE="+empty, "SSL_CERT_DIR="+t.TempDir()); r.code != 1 || !strings.Contains(r.stdout, "lantls trust install --issuer https://"+ns.hubIP) {
		t.Errorf("lantls doctor with no root trusted:\n%s", r)
	}

	// Another device cannot take it.
	other := mustRun(t, nil, lantlsBin, "admin", "--data", data, "device", "add", "--owner", "bob", "--name", "Bob's NAS", "--json")
	otherLabel := regexp.MustCompile(`"label":\s*"([a-z2-7]+)"`).FindStringSubmatch(other.stdout)
	if otherLabel == nil {
		t.Fatalf("no label in %s", other.stdout)
	}
	if r := run(t, nil, lantlsBin, "admin", "--data", data, "device", "name", otherLabel[1], "tv"); r.code == 0 || !strings.Contains(r.stderr, "belongs to another device") {
		t.Errorf("a second device took tv:\n%s", r)
	}
}

// hubUIEnv makes the test binary, run again inside the device's
// namespace, serve the device's own plain-HTTP UI on that address.
const hubUIEnv = "LANTLS_E2E_HUB_DEVICE_UI"

func init() {
	addr := os.Getenv(hubUIEnv)
	if addr == "" {
		return
	}
	// Serve until the test kills this process; never run the tests.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "device UI on the isolated LAN")
	})}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	go func() { <-stop; os.Exit(0) }()
	fmt.Fprintln(os.Stderr, srv.Serve(ln))
	os.Exit(1)
}

// lan is two network namespaces joined by a veth pair and nothing else.
type lan struct {
	hub, dev     string // namespace names
	hubIP, devIP string
}

// newLAN makes the namespaces, or skips the test where they cannot be made
// (fails where LANTLS_E2E_REQUIRE=1 asks for every test to run).
func newLAN(t *testing.T) *lan {
	t.Helper()
	skip := func(why string) {
		t.Helper()
		if os.Getenv("LANTLS_E2E_REQUIRE") == "1" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	if os.Geteuid() != 0 {
		skip("the hub test needs root to make network namespaces (an isolated LAN without internet); run it as root, as scripts/test does in CI")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		skip("the hub test needs the ip command (iproute2) to make network namespaces")
	}
	id := os.Getpid() % 250
	l := &lan{hub: fmt.Sprintf("lantls-hub-%d", os.Getpid()), dev: fmt.Sprintf("lantls-dev-%d", os.Getpid()),
		hubIP: fmt.Sprintf("10.37.%d.1", id), devIP: fmt.Sprintf("10.37.%d.2", id)}
	if out, err := exec.Command("ip", "netns", "add", l.hub).CombinedOutput(); err != nil {
		skip(fmt.Sprintf("cannot make a network namespace here (ip netns add: %v: %s); the hub test needs one for an isolated LAN", err, out))
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", l.hub).Run() })
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", l.dev)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", l.dev).Run() })
	veth := fmt.Sprintf("lth%d", os.Getpid())
	ip("link", "add", veth+"a", "netns", l.hub, "type", "veth", "peer", "name", veth+"b", "netns", l.dev)
	for _, end := range []struct{ ns, dev, addr string }{{l.hub, veth + "a", l.hubIP}, {l.dev, veth + "b", l.devIP}} {
		ip("-n", end.ns, "link", "set", "lo", "up")
		ip("-n", end.ns, "addr", "add", end.addr+"/24", "dev", end.dev)
		ip("-n", end.ns, "link", "set", end.dev, "up")
	}
	return l
}

// startIn starts bin in namespace ns, stopped with SIGTERM when the test
// ends.
func startIn(t *testing.T, ns string, env []string, bin string, args ...string) *agentProc {
	t.Helper()
	p := &agentProc{stdout: &testwait.Buffer{}, stderr: &testwait.Buffer{}, done: make(chan struct{})}
	p.cmd = command(context.Background(), "ip", append([]string{"netns", "exec", ns, bin}, args...)...)
	p.cmd.Env = append(loopbackEnv(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	t.Cleanup(func() { p.stop(t) })
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	return p
}

// nsRun runs a command inside namespace ns.
func nsRun(t *testing.T, ns, name string, args ...string) result {
	t.Helper()
	return run(t, nil, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// digWant asks the hub's DNS for name inside namespace ns until it
// answers want.
func digWant(t *testing.T, ns, server, name, want string) {
	t.Helper()
	waitFor(t, 5*time.Second, "dig @"+server+" "+name+" A = "+want, func() bool {
		r := nsRun(t, ns, "dig", "+short", "+time=2", "+tries=1", "@"+server, name, "A")
		return strings.TrimSpace(r.stdout) == want
	})
}

// curlWant loads https://name/ inside namespace ns, trusting only root,
// and checks the page.
func curlWant(t *testing.T, ns, root, name, addr, body string) {
	t.Helper()
	r := nsRun(t, ns, "curl", "-sS", "--max-time", "10", "--cacert", root, "--resolve", name+":443:"+addr, "https://"+name+"/")
	if r.code != 0 || !strings.Contains(r.stdout, body) {
		t.Errorf("https://%s/ from the hub's namespace:\n%s", name, r)
	}
}

// waitFor checks ok until it holds, or fails t after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	testwait.For(t, timeout, what, ok)
}
