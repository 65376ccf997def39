package badinput

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lantls/lantls/internal/testwait"
)

const (
	zone         = "lan.test"
	readyTimeout = 60 * time.Second
	password     = "correct horse battery"
)

// bins are the binaries under test, built once by TestMain.
var bins struct{ lantls, agent string }

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e/badinput: skipped in -short mode")
		return
	}
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "lantls-badinput-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	bins.lantls, bins.agent = filepath.Join(tmp, "lantls"), filepath.Join(tmp, "lantls-agent")
	for out, pkg := range map[string]string{bins.lantls: "./cmd/lantls", bins.agent: "./cmd/lantls-agent"} {
		args := []string{"build", "-o", out}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, pkg)...)
		cmd.Dir = "../.."
		if b, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e/badinput: go %s: %v\n%s", strings.Join(args, " "), err, b)
			return 1
		}
	}
	return m.Run()
}

// proc is a running lantls or lantls-agent.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr testwait.Buffer
	done           chan struct{}
	err            error
}

func start(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = loopbackEnv()
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop sends SIGTERM and fails the test unless the process exits 0 in time.
func (p *proc) stop(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("%s exited with %v\n%s", p.cmd.Path, p.err, p.logs())
		}
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		t.Errorf("%s did not stop within 30 s of SIGTERM\n%s", p.cmd.Path, p.logs())
	}
}

func (p *proc) logs() string {
	return "--- stdout:\n" + tail(p.stdout.String()) + "\n--- stderr:\n" + tail(p.stderr.String())
}

func tail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}

// wait waits for re to match the output and returns its submatches.
func (p *proc) wait(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	m := p.stdout.Match(readyTimeout, re, p.done)
	if m != nil {
		return m
	}
	select {
	case <-p.done:
		t.Fatalf("%s exited (%v) before printing %q\n%s", p.cmd.Path, p.err, re, p.logs())
	default:
		t.Fatalf("%s did not print %q within %s\n%s", p.cmd.Path, re, readyTimeout, p.logs())
	}
	return nil
}

// loopbackEnv is the environment without proxy variables.
func loopbackEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasSuffix(strings.ToLower(k), "_proxy") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// env is a running issuer and agent, with what the valid requests made.
type env struct {
	dir       string
	iss       *proc
	base      string // https://127.0.0.1:PORT
	httpBase  string // http://127.0.0.1:PORT of the CA files
	dnsAddr   string
	root      string
	roots     *x509.CertPool
	client    *http.Client // trusts the root, follows no redirects
	dev, dev2 *deviceJSON
	agent     *proc
	onboard   string // host:port of the agent's onboarding page
	userCode  string
}

type deviceJSON struct {
	ID, Label  string
	Names      []string
	EABKID     string `json:"eab_kid"`
	EABHMACKey string `json:"eab_hmac_key"`
}

var readyRE = regexp.MustCompile(`(?m)^\s+crl\s+(\S+)`)

func startEnv(t *testing.T) *env {
	t.Helper()
	e := &env{dir: t.TempDir()}
	e.iss = start(t, bins.lantls, "issuer", "--data", e.dir, "--zone", zone, "--listen", "127.0.0.1:0",
		"--http-listen", "127.0.0.1:0", "--dns-listen", "127.0.0.1:0", "--hostname", "localhost",
		// The test's requests come through "a proxy" when they say so.
		"--trusted-proxy", "127.0.0.1")
	e.iss.wait(t, readyRE)
	var info struct {
		BaseURL  string `json:"base_url"`
		FilesURL string `json:"files_url"`
		Root     string `json:"root"`
		DNS      string `json:"dns"`
	}
	b, err := os.ReadFile(filepath.Join(e.dir, "issuer.json"))
	if err != nil || json.Unmarshal(b, &info) != nil {
		t.Fatalf("issuer.json: %v %s", err, b)
	}
	e.base, e.httpBase, e.root, e.dnsAddr = info.BaseURL, info.FilesURL, info.Root, info.DNS
	pemBytes, err := os.ReadFile(e.root)
	if err != nil {
		t.Fatal(err)
	}
	e.roots = x509.NewCertPool()
	e.roots.AppendCertsFromPEM(pemBytes)
	e.client = &http.Client{
		Timeout:       20 * time.Second,
		Transport:     &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{RootCAs: e.roots}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	e.dev = e.addDevice(t, "alice")
	e.dev2 = e.addDevice(t, "bob")
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte(password+"\n"), 0o600)
	e.admin(t, "user", "add", "alice", "--password-file", pw)

	onboard := freePort(t)
	e.agent = start(t, bins.agent, "--issuer", e.base, "--issuer-ca", e.root, "--data", filepath.Join(t.TempDir(), "agent"),
		"--model", "badinput TV", "--proxy-to", "http://127.0.0.1:9", "--listen", "127.0.0.1:"+freePort(t),
		"--onboard-listen", "127.0.0.1:"+onboard, "--mdns=false", "--name-check=off")
	e.userCode = e.agent.wait(t, regexp.MustCompile(`\b([B-DF-HJ-NP-TV-XZ]{4}-[B-DF-HJ-NP-TV-XZ]{4})\b`))[1]
	e.onboard = "127.0.0.1:" + onboard
	e.agent.wait(t, regexp.MustCompile(`onboarding page: http://`))
	return e
}

func (e *env) admin(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(bins.lantls, append([]string{"admin", "--data", e.dir}, args...)...)
	cmd.Env = loopbackEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("lantls admin %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (e *env) addDevice(t *testing.T, owner string) *deviceJSON {
	t.Helper()
	var d deviceJSON
	out := e.admin(t, "device", "add", "--owner", owner, "--name", "tv", "--json")
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("device add --json: %v\n%s", err, out)
	}
	return &d
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// readAll reads at most 1 MiB of a body.
func readAll(r io.Reader) []byte {
	b, _ := io.ReadAll(io.LimitReader(r, 1<<20))
	return b
}

var _ = context.Background
