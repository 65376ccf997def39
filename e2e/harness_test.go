// Package e2e drives the real lantls binary with real ACME clients (certbot,
// lego, uacme, Caddy, golang.org/x/crypto/acme) over loopback. See
// README.md.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lantls/lantls/internal/testwait"
	"github.com/lantls/lantls/store/postgres/pgtest"
)

// zone is the DNS zone every test issuer serves.
const zone = "lan.test"

// Timeouts for the processes the tests start. Each is an upper bound on a
// healthy run, several times what it takes on a loaded two-core machine.
const (
	readyTimeout   = 30 * time.Second
	stopTimeout    = 20 * time.Second
	commandTimeout = 2 * time.Minute
	buildTimeout   = 10 * time.Minute
)

// lantlsBin is the binary under test, built once by TestMain.
var lantlsBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped in -short mode")
		return 0
	}
	if bin := os.Getenv("LANTLS_E2E_BINARY"); bin != "" {
		lantlsBin = bin
		return pgtest.Run(m)
	}
	tmp, err := os.MkdirTemp("", "lantls-e2e-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	lantlsBin = filepath.Join(tmp, "lantls")
	if err := buildBinary(lantlsBin, "./cmd/lantls"); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	return pgtest.Run(m)
}

// buildBinary builds pkg (./cmd/lantls) into out, with the race detector
// when the tests themselves run with it, so that races in the issuer fail
// its clean exit (status 66) instead of going unnoticed.
func buildBinary(out, pkg string) error {
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	args := []string{"build", "-o", out}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	start := time.Now()
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building %s (go %s in %s): %w\n%s", pkg, strings.Join(args, " "), root, err, b)
	}
	fmt.Printf("e2e: built %s (race=%v) in %s\n", out, raceEnabled, time.Since(start).Round(time.Millisecond))
	return nil
}

func moduleRoot(ctx context.Context) (string, error) {
	b, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("finding module root: %w", err)
	}
	gomod := strings.TrimSpace(string(b))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("finding module root: not inside a Go module")
	}
	return filepath.Dir(gomod), nil
}

// requireTool returns the path of an external program a test needs. When
// it is missing the test is skipped, or fails if LANTLS_E2E_REQUIRE=1 (as in
// scripts/test), so that CI never passes by skipping.
func requireTool(t *testing.T, name, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("%s not installed: run scripts/test which installs it, or apt-get install %s", name, debianPackage)
	if os.Getenv("LANTLS_E2E_REQUIRE") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// result is the outcome of one finished command.
type result struct {
	cmdline string
	stdout  string
	stderr  string
	code    int // exit status, -1 if the process did not exit normally
	err     error
	elapsed time.Duration
}

func (r result) output() string { return r.stdout + r.stderr }

func (r result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ %s\nexit status %d", r.cmdline, r.code)
	if r.err != nil && r.code != 0 {
		fmt.Fprintf(&b, " (%v)", r.err)
	}
	fmt.Fprintf(&b, " after %s\n--- stdout:\n%s\n--- stderr:\n%s", r.elapsed.Round(time.Millisecond), r.stdout, r.stderr)
	return b.String()
}

// run runs name with args and env (added to a loopback-only copy of this
// process's environment), bounded by commandTimeout, and returns what
// happened. It never fails the test itself.
func run(t *testing.T, env []string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), commandTimeout)
	defer cancel()
	cmd := command(ctx, name, args...)
	cmd.Env = append(loopbackEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := result{
		cmdline: shellQuote(env, name, args),
		stdout:  stdout.String(),
		stderr:  stderr.String(),
		code:    cmd.ProcessState.ExitCode(),
		err:     err,
		elapsed: time.Since(start),
	}
	if ctx.Err() != nil {
		r.err = fmt.Errorf("killed after %s: %w", commandTimeout, ctx.Err())
	}
	return r
}

// mustRun is run that fails the test unless the command exits 0.
func mustRun(t *testing.T, env []string, name string, args ...string) result {
	t.Helper()
	r := run(t, env, name, args...)
	if r.code != 0 {
		t.Fatalf("command failed:\n%s", r)
	}
	return r
}

// command makes a command in its own process group, so that a timeout
// kills everything it started, not just the direct child.
func command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// loopbackEnv is this process's environment without proxy settings, so
// that no client sends loopback traffic anywhere else.
func loopbackEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToLower(k) {
		case "http_proxy", "https_proxy", "all_proxy", "no_proxy":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "NO_PROXY=127.0.0.1,localhost,::1", "no_proxy=127.0.0.1,localhost,::1")
}

func shellQuote(env []string, name string, args []string) string {
	words := append(append(append([]string{}, env...), name), args...)
	for i, w := range words {
		if w == "" || strings.ContainsAny(w, " \t\n'\"*$&;|<>()\\") {
			words[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
		}
	}
	return strings.Join(words, " ")
}

// lantls runs the binary under test.
func lantls(t *testing.T, args ...string) result {
	t.Helper()
	return run(t, nil, lantlsBin, args...)
}

// issuer is a running `lantls issuer` with its own data directory.
type issuer struct {
	Dir       string // data directory
	Directory string // ACME directory URL
	Root      string // path of the root certificate (PEM)
	BaseURL   string // https://127.0.0.1:PORT
	CRL       string // http://127.0.0.1:PORT/ca/crl, on the plain HTTP listener
	Zone      string
	Bin       string // the lantls binary it runs

	// StartedAt is when the process was started, ReadyAfter how long it
	// took from there to print its ready block.
	StartedAt  time.Time
	ReadyAfter time.Duration

	caDir      string   // --ca-dir, when given; else Dir/ca
	adminFlags []string // added to every `lantls admin` (--store URL)

	roots  *x509.CertPool
	client *http.Client
	cmd    *exec.Cmd
	stdout *testwait.Buffer
	stderr *testwait.Buffer
	done   chan struct{} // closed once the process has exited
	err    error         // from Wait, valid after done

	stopOnce sync.Once
}

// issuerFile is DIR/issuer.json.
type issuerFile struct {
	Directory string `json:"directory"`
	Root      string `json:"root"`
	Zone      string `json:"zone"`
	BaseURL   string `json:"base_url"`
}

// startIssuer starts `lantls issuer` on 127.0.0.1 port 0 with a fresh data
// directory and stops it with SIGTERM when the test ends, failing the test
// unless it exits 0.
func startIssuer(t *testing.T) *issuer {
	t.Helper()
	return startIssuerIn(t, t.TempDir())
}

// startIssuerIn is startIssuer with a given data directory, to restart an
// issuer on the data of an earlier one.
func startIssuerIn(t *testing.T, dir string) *issuer {
	t.Helper()
	return startIssuerOn(t, dir, "127.0.0.1:0")
}

// startIssuerOn is startIssuerIn with a given listen address, to restart an
// issuer where its clients expect it: same data, same port; flags are added
// to the command line.
func startIssuerOn(t *testing.T, dir, listen string, flags ...string) *issuer {
	t.Helper()
	iss := &issuer{
		Dir:    dir,
		Bin:    lantlsBin,
		stdout: &testwait.Buffer{},
		stderr: &testwait.Buffer{},
		done:   make(chan struct{}),
	}
	for i, f := range flags {
		switch {
		case f == "--ca-dir" && i+1 < len(flags):
			iss.caDir = flags[i+1]
		case f == "--store" && i+1 < len(flags):
			iss.adminFlags = []string{"--store", flags[i+1]}
		}
	}
	args := append([]string{"issuer", "--data", dir, "--zone", zone, "--listen", listen,
		"--http-listen", "127.0.0.1:0", "--dns-listen", "127.0.0.1:0", "--hostname", "localhost"}, flags...)
	iss.cmd = command(context.Background(), iss.Bin, args...)
	iss.cmd.Env = loopbackEnv()
	iss.cmd.Stderr = iss.stderr
	pipe, err := iss.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	iss.StartedAt = time.Now()
	if err := iss.cmd.Start(); err != nil {
		t.Fatalf("starting issuer: %v", err)
	}
	t.Cleanup(func() { iss.Stop(t) })

	ready := make(chan map[string]string, 1)
	go iss.readStdout(pipe, ready)
	var fields map[string]string
	select {
	case fields = <-ready:
		iss.ReadyAfter = time.Since(iss.StartedAt)
	case <-iss.done:
		t.Fatalf("issuer exited before it was ready: %v\n%s", iss.err, iss.logs())
	case <-time.After(readyTimeout):
		t.Fatalf("issuer not ready after %s: no `directory`, `root` and `crl` lines on stdout\n%s", readyTimeout, iss.logs())
	}
	iss.Directory = fields["directory"]
	iss.Root = fields["root"]
	iss.CRL = fields["crl"]
	iss.checkReady(t)
	return iss
}

// readyLine matches the lines of the ready block: a key word, spaces, a value.
var readyLine = regexp.MustCompile(`^\s+([a-z][a-z_-]*)\s+(\S.*)$`)

// readStdout copies the issuer's stdout into iss.stdout, sends the ready
// block's fields once it has seen both directory and root, and reaps the
// process at EOF.
func (iss *issuer) readStdout(r io.Reader, ready chan<- map[string]string) {
	fields := map[string]string{}
	sent := false
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		iss.stdout.Write([]byte(line + "\n"))
		if m := readyLine.FindStringSubmatch(line); m != nil && !sent {
			fields[m[1]] = strings.TrimSpace(m[2])
			if fields["directory"] != "" && fields["root"] != "" && fields["crl"] != "" {
				ready <- fields
				sent = true
			}
		}
	}
	io.Copy(iss.stdout, r)
	iss.err = iss.cmd.Wait()
	close(iss.done)
}

// checkReady checks the ready block and issuer.json against the contract
// and loads the root.
func (iss *issuer) checkReady(t *testing.T) {
	t.Helper()
	u, err := url.Parse(iss.Directory)
	if err != nil || u.Scheme != "https" || u.Hostname() != "127.0.0.1" || u.Path != "/acme/directory" {
		t.Errorf("contract: directory line %q is not https://127.0.0.1:PORT/acme/directory", iss.Directory)
	}
	if c, err := url.Parse(iss.CRL); err != nil || c.Scheme != "http" || c.Hostname() != "127.0.0.1" || c.Path != "/ca/crl" {
		t.Errorf("contract: crl line %q is not http://127.0.0.1:PORT/ca/crl", iss.CRL)
	}
	caDir := filepath.Join(iss.Dir, "ca")
	if iss.caDir != "" {
		caDir = iss.caDir
	}
	if wantRoot := filepath.Join(caDir, "root.pem"); iss.Root != wantRoot {
		t.Errorf("contract: root line is %q, want %q", iss.Root, wantRoot)
	}

	var f issuerFile
	if b, err := os.ReadFile(filepath.Join(iss.Dir, "issuer.json")); err != nil {
		t.Errorf("contract: %v", err)
	} else if err := json.Unmarshal(b, &f); err != nil {
		t.Errorf("contract: issuer.json: %v\n%s", err, b)
	}
	want := issuerFile{Directory: iss.Directory, Root: iss.Root, Zone: zone}
	if u != nil {
		want.BaseURL = u.Scheme + "://" + u.Host
	}
	if f != want {
		t.Errorf("contract: issuer.json is %+v, want %+v", f, want)
	}
	iss.Zone = zone
	iss.BaseURL = want.BaseURL
	if f.BaseURL != "" {
		iss.BaseURL = strings.TrimSuffix(f.BaseURL, "/")
	}

	pemBytes, err := os.ReadFile(iss.Root)
	if err != nil {
		t.Fatalf("reading root: %v", err)
	}
	iss.roots = x509.NewCertPool()
	if !iss.roots.AppendCertsFromPEM(pemBytes) {
		t.Fatalf("root %s holds no PEM certificate", iss.Root)
	}
	iss.client = &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy:           nil,
			TLSClientConfig: &tls.Config{RootCAs: iss.roots},
		},
	}
}

// Stop sends SIGTERM and checks that the issuer exits 0 in time. Only the
// first call does anything; the test's cleanup calls it too.
func (iss *issuer) Stop(t *testing.T) {
	t.Helper()
	iss.stopOnce.Do(func() { iss.stop(t) })
}

func (iss *issuer) stop(t *testing.T) {
	t.Helper()
	if iss.client != nil {
		defer iss.client.CloseIdleConnections()
	}
	select {
	case <-iss.done:
		if iss.Directory != "" { // else startIssuerIn has reported it
			t.Errorf("issuer exited while the test was running: %v\n%s", iss.err, iss.logs())
		}
		return
	default:
	}
	iss.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-iss.done:
	case <-time.After(stopTimeout):
		syscall.Kill(-iss.cmd.Process.Pid, syscall.SIGKILL)
		<-iss.done
		t.Errorf("issuer did not exit within %s of SIGTERM; killed\n%s", stopTimeout, iss.logs())
		return
	}
	if iss.err != nil {
		t.Errorf("issuer did not exit cleanly on SIGTERM: %v\n%s", iss.err, iss.logs())
		return
	}
	if t.Failed() {
		t.Logf("issuer output:\n%s", iss.logs())
	}
}

// Kill ends the issuer with SIGKILL, as a crash or an OOM kill would, and
// waits for it to exit. It fails the test if the issuer had already exited,
// or if the race detector reported a race before the kill (a killed process
// has no exit status to carry it). Stop does nothing afterwards.
func (iss *issuer) Kill(t *testing.T) {
	t.Helper()
	iss.stopOnce.Do(func() {
		if iss.client != nil {
			defer iss.client.CloseIdleConnections()
		}
		select {
		case <-iss.done:
			t.Errorf("issuer exited before it was killed: %v\n%s", iss.err, iss.logs())
			return
		default:
		}
		syscall.Kill(-iss.cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-iss.done:
		case <-time.After(stopTimeout):
			t.Errorf("issuer still running %s after SIGKILL", stopTimeout)
			return
		}
		if strings.Contains(iss.stderr.String(), "WARNING: DATA RACE") {
			t.Errorf("the race detector reported a race in the issuer before it was killed\n%s", iss.logs())
		}
	})
}

func (iss *issuer) logs() string {
	return fmt.Sprintf("--- issuer stdout:\n%s\n--- issuer stderr:\n%s", iss.stdout, tail(iss.stderr.String(), 300))
}

// tail keeps the last n lines of s.
func tail(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) <= n {
		return s
	}
	return fmt.Sprintf("[%d lines before]\n%s", len(lines)-n, strings.Join(lines[len(lines)-n:], ""))
}

// admin runs `lantls admin --data DIR args...`.
func (iss *issuer) admin(t *testing.T, args ...string) result {
	t.Helper()
	return run(t, nil, iss.Bin, append(append([]string{"admin", "--data", iss.Dir}, iss.adminFlags...), args...)...)
}

// get fetches url with a client that trusts only the issuer's root.
func (iss *issuer) get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := iss.client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return resp, body
}

// directoryDoc fetches the ACME directory as a generic JSON object.
func (iss *issuer) directoryDoc(t *testing.T) map[string]any {
	t.Helper()
	resp, body := iss.get(t, iss.Directory)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", iss.Directory, resp.Status, body)
	}
	var dir map[string]any
	if err := json.Unmarshal(body, &dir); err != nil {
		t.Fatalf("directory: %v\n%s", err, body)
	}
	return dir
}

// device is one line of `lantls admin device add --json`.
type device struct {
	ID         string   `json:"id"`
	Label      string   `json:"label"`
	Owner      string   `json:"owner"`
	Name       string   `json:"name"`
	Names      []string `json:"names"`
	EABKID     string   `json:"eab_kid"`
	EABHMACKey string   `json:"eab_hmac_key"`
	Directory  string   `json:"directory"`
	Root       string   `json:"root"`
	Certbot    string   `json:"certbot"`
	Lego       string   `json:"lego"`
}

// hmacKey decodes the EAB MAC key.
func (d *device) hmacKey(t *testing.T) []byte {
	t.Helper()
	k, err := base64.RawURLEncoding.DecodeString(d.EABHMACKey)
	if err != nil || len(k) == 0 {
		t.Fatalf("contract: eab_hmac_key %q is not unpadded base64url: %v", d.EABHMACKey, err)
	}
	return k
}

// addDevice adds one device owned by "alice" and returns its credentials.
func addDevice(t *testing.T, iss *issuer) *device {
	t.Helper()
	return addDevices(t, iss, 1)[0]
}

// addDevices adds n devices with one `device add --count n` and checks each
// against the contract.
func addDevices(t *testing.T, iss *issuer, n int) []*device {
	t.Helper()
	args := []string{"device", "add", "--owner", "alice", "--name", "Living room TV", "--json"}
	if n != 1 {
		args = append(args, "--count", fmt.Sprint(n))
	}
	r := iss.admin(t, args...)
	if r.code != 0 {
		t.Fatalf("device add failed:\n%s", r)
	}
	var devs []*device
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		d := &device{}
		if err := json.Unmarshal([]byte(line), d); err != nil {
			t.Fatalf("contract: device add --json: line %q: %v\n%s", line, err, r)
		}
		devs = append(devs, d)
	}
	if len(devs) != n {
		t.Fatalf("contract: device add made %d JSON lines, want %d\n%s", len(devs), n, r)
	}
	for _, d := range devs {
		checkDevice(t, iss, d)
	}
	return devs
}

var labelPattern = regexp.MustCompile(`^[a-z2-7]{26}$`)

func checkDevice(t *testing.T, iss *issuer, d *device) {
	t.Helper()
	if !labelPattern.MatchString(d.Label) {
		t.Fatalf("contract: device label %q is not 26 lowercase base32 characters", d.Label)
	}
	base := d.Label + "." + iss.Zone
	if want := []string{base, "*." + base}; !reflect.DeepEqual(d.Names, want) {
		t.Errorf("contract: device names %q, want %q", d.Names, want)
		d.Names = want
	}
	if d.ID == "" || d.EABKID == "" {
		t.Errorf("contract: device add left id %q or eab_kid %q empty", d.ID, d.EABKID)
	}
	// With --count the names get a number.
	if d.Owner != "alice" || !strings.HasPrefix(d.Name, "Living room TV") {
		t.Errorf("contract: device owner %q name %q, want alice and \"Living room TV\"", d.Owner, d.Name)
	}
	d.hmacKey(t)
	if d.Directory != iss.Directory || d.Root != iss.Root {
		t.Errorf("contract: device directory %q root %q, want %q and %q", d.Directory, d.Root, iss.Directory, iss.Root)
	}
	for client, line := range map[string]string{"certbot": d.Certbot, "lego": d.Lego} {
		if !strings.Contains(line, client) || !strings.Contains(line, d.EABKID) ||
			!strings.Contains(line, d.EABHMACKey) || !strings.Contains(line, iss.Directory) {
			t.Errorf("contract: %s command line %q lacks the client, the EAB key or the directory", client, line)
		}
	}
}

// parseCertsPEM parses every CERTIFICATE block of a PEM file.
func parseCertsPEM(t *testing.T, pemBytes []byte) []*x509.Certificate {
	t.Helper()
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, pemBytes = pem.Decode(pemBytes)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatalf("parsing certificate: %v", err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		t.Fatal("no certificate in PEM data")
	}
	return certs
}

func readFileString(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}

// readChain reads a PEM chain file, leaf first.
func readChain(t *testing.T, path string) []*x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parseCertsPEM(t, b)
}
