package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/lantls/lantls/internal/testwait"
)

var (
	agentBinOnce sync.Once
	agentBin     string
	agentBinErr  error
)

// agentBinary builds ./cmd/lantls-agent once, on first use.
func agentBinary(t *testing.T) string {
	t.Helper()
	agentBinOnce.Do(func() {
		if bin := os.Getenv("LANTLS_E2E_AGENT_BINARY"); bin != "" {
			agentBin = bin
			return
		}
		dir, err := os.MkdirTemp("", "lantls-agent-e2e-")
		if err != nil {
			agentBinErr = err
			return
		}
		agentBin = filepath.Join(dir, "lantls-agent")
		agentBinErr = buildBinary(agentBin, "./cmd/lantls-agent")
	})
	if agentBinErr != nil {
		t.Fatal(agentBinErr)
	}
	return agentBin
}

// agentProc is a running lantls-agent.
type agentProc struct {
	cmd    *exec.Cmd
	stdout *testwait.Buffer
	stderr *testwait.Buffer
	done   chan struct{}
	err    error
}

func startAgent(t *testing.T, args ...string) *agentProc {
	t.Helper()
	p := &agentProc{stdout: &testwait.Buffer{}, stderr: &testwait.Buffer{}, done: make(chan struct{})}
	p.cmd = command(context.Background(), agentBinary(t), args...)
	p.cmd.Env = loopbackEnv()
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *agentProc) stop(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("lantls-agent exited with %v\n%s", p.err, p.logs())
		}
	case <-time.After(stopTimeout):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		t.Errorf("lantls-agent did not stop within %s of SIGTERM\n%s", stopTimeout, p.logs())
	}
}

func (p *agentProc) logs() string {
	return "--- agent stdout:\n" + tail(p.stdout.String(), 40) + "\n--- agent stderr:\n" + tail(p.stderr.String(), 40)
}

// waitOutput waits until stdout matches re and returns the submatches.
func (p *agentProc) waitOutput(t *testing.T, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	m := p.stdout.Match(timeout, re, p.done)
	if m != nil {
		return m
	}
	select {
	case <-p.done:
		t.Fatalf("lantls-agent exited (%v) before printing %q\n%s", p.err, re, p.logs())
	default:
		t.Fatalf("lantls-agent did not print %q within %s\n%s", re, timeout, p.logs())
	}
	return nil
}

var (
	userCodeLine = regexp.MustCompile(`code\s+([B-Z]{4}-[B-Z]{4})`)
	servingLine  = regexp.MustCompile(`serving certificate ([0-9a-f]+)`)
)

// deviceUI is the device's own plain-HTTP UI behind the proxy: a page, a
// request that stays open until released, and a WebSocket echo.
type deviceUI struct {
	srv     *httptest.Server
	release chan struct{}
	started chan struct{}
}

func startDeviceUI(t *testing.T) *deviceUI {
	t.Helper()
	ui := &deviceUI{release: make(chan struct{}), started: make(chan struct{}, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "device UI at %s, forwarded proto %s", r.Host, r.Header.Get("X-Forwarded-Proto"))
	})
	mux.HandleFunc("/long", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "started\n")
		w.(http.Flusher).Flush()
		ui.started <- struct{}{}
		select {
		case <-ui.release:
			fmt.Fprint(w, "finished\n")
		case <-r.Context().Done():
		}
	})
	mux.Handle("/ws", websocket.Handler(func(c *websocket.Conn) { io.Copy(c, c) }))
	ui.srv = httptest.NewServer(mux)
	t.Cleanup(ui.srv.Close)
	return ui
}

// TestAgent runs a real issuer and lantls-agent in proxy mode as separate
// processes: pairing and approval through the owner UI's forms, HTTPS and wss through the proxy, a
// forced renewal during a long request, a restart that neither pairs nor
// reissues, CORS by grant, and reset that revokes.
func TestAgent(t *testing.T) {
	t.Parallel()
	iss := startIssuer(t)
	ui := startDeviceUI(t)
	data := filepath.Join(t.TempDir(), "agent")
	port := freePort(t)
	args := []string{"--issuer", iss.BaseURL, "--issuer-ca", iss.Root, "--data", data, "--model", "e2e TV",
		"--proxy-to", ui.srv.URL, "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--mdns=false", "--name-check=off", "--log-level", "debug"}
	agent := startAgent(t, args...)

	owner := loginOwner(t, iss, "alice")
	code := agent.waitOutput(t, userCodeLine, readyTimeout)[1]
	approved := time.Now()
	owner.approve(t, code)
	serial := agent.waitOutput(t, servingLine, readyTimeout)[1]
	t.Logf("approve -> serving %s in %s", serial, time.Since(approved).Round(time.Millisecond))

	st := agentStatus(t, data)
	label := st.Label
	host := "127-0-0-1." + label + "." + zone
	roots := x509.NewCertPool()
	pem, _ := os.ReadFile(iss.Root)
	roots.AppendCertsFromPEM(pem)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	client := proxyClient(roots, addr)

	t.Run("addresses reported", func(t *testing.T) {
		// The issuer took the report (PUT /api/v1/device/addresses); the
		// host's other interfaces may add private addresses of their own.
		if !testwait.Until(readyTimeout, func() bool { return slices.Contains(agentStatus(t, data).Addresses, "127.0.0.1") }) {
			t.Fatalf("127.0.0.1 not reported within %s\n%s", readyTimeout, agent.logs())
		}
	})

	t.Run("https", func(t *testing.T) {
		body := get(t, client, "https://"+host+"/")
		if want := "device UI at " + host + ", forwarded proto https"; body != want {
			t.Errorf("body %q, want %q", body, want)
		}
	})

	t.Run("wss", func(t *testing.T) {
		cfg, err := websocket.NewConfig("wss://"+host+"/ws", "https://"+host)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: host, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		conn, err := websocket.NewClient(cfg, raw)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := websocket.Message.Send(conn, "hello over wss"); err != nil {
			t.Fatal(err)
		}
		var echo string
		if err := websocket.Message.Receive(conn, &echo); err != nil || echo != "hello over wss" {
			t.Errorf("echo %q, %v", echo, err)
		}
	})

	t.Run("renewal during a long request", func(t *testing.T) {
		longClient := proxyClient(roots, addr)
		resp, err := longClient.Get("https://" + host + "/long")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		r := bufio.NewReader(resp.Body)
		if line, _ := r.ReadString('\n'); line != "started\n" {
			t.Fatalf("long request: %q", line)
		}
		<-ui.started
		agent.cmd.Process.Signal(syscall.SIGUSR1)
		var next string
		if !testwait.Until(readyTimeout, func() bool { next = servedSerial(t, roots, addr, host); return next != serial }) {
			t.Fatalf("still serving %s %s after SIGUSR1\n%s", serial, readyTimeout, agent.logs())
		}
		close(ui.release)
		if line, err := r.ReadString('\n'); line != "finished\n" {
			t.Errorf("long request after the renewal: %q, %v (the swap dropped it)", line, err)
		}
		if resp.TLS.PeerCertificates[0].SerialNumber.Text(16) != serial {
			t.Error("the long request's connection changed certificates")
		}
		serial = next
	})

	owner.grant(t, "https://app.vendor.example")

	parent := t
	t.Run("restart neither pairs nor reissues", func(t *testing.T) {
		issued := issuedTotal(t, iss)
		agent.stop(t)
		agent = startAgent(parent, args...) // lives on after this subtest
		got := agent.waitOutput(t, servingLine, readyTimeout)[1]
		if got != serial {
			t.Errorf("restart serves %s, want the stored %s", got, serial)
		}
		// The renewal loop logs its decision to keep the certificate; by
		// then a wrong agent would have paired or ordered.
		logs := agent.stderr.Wait(t, readyTimeout, "certificate still good, not renewing yet")
		if strings.Contains(agent.stdout.String(), "approve it in your lantls issuer") {
			t.Error("the restarted agent asked to pair again")
		}
		if strings.Contains(logs, "new certificate") {
			t.Errorf("the restarted agent reissued:\n%s", agent.logs())
		}
		if s := servedSerial(t, roots, addr, host); s != serial {
			t.Errorf("serving %s after the restart decided to keep %s: it reissued", s, serial)
		}
		if n := issuedTotal(t, iss); n != issued {
			t.Errorf("the issuer issued %d certificates before the restart, %d after it decided to keep its certificate", issued, n)
		}
	})

	t.Run("CORS by grant", func(t *testing.T) {
		if !testwait.Until(readyTimeout, func() bool {
			return preflight(t, client, host, "https://app.vendor.example") == "https://app.vendor.example"
		}) {
			t.Fatalf("granted origin not allowed after %s\n%s", readyTimeout, agent.logs())
		}
		if acao := preflight(t, client, host, "https://evil.example"); acao != "" {
			t.Errorf("origin without a grant got Access-Control-Allow-Origin %q", acao)
		}
	})

	t.Run("reset revokes", func(t *testing.T) {
		agent.stop(t)
		chain := readChain(t, filepath.Join(data, "chain.pem"))
		// No --issuer-ca: the agent kept the root that vouched for the
		// issuer when it paired.
		r := run(t, nil, agentBinary(t), "reset", "--data", data)
		if r.code != 0 || !strings.Contains(r.stdout, "revoked certificate "+serial) {
			t.Fatalf("reset:\n%s", r)
		}
		requireRevoked(t, iss, chain, anyReason)
		if left, _ := os.ReadDir(data); len(left) != 1 || left[0].Name() != "lock" {
			t.Errorf("reset left %v in %s, want only the lock file", left, data)
		}
	})
}

type agentStatusJSON struct {
	Label     string   `json:"label"`
	Names     []string `json:"names"`
	Serial    string   `json:"serial"`
	Addresses []string `json:"addresses"`
}

func agentStatus(t *testing.T, data string) agentStatusJSON {
	t.Helper()
	r := mustRun(t, nil, agentBinary(t), "status", "--data", data, "--json")
	var st agentStatusJSON
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, r)
	}
	return st
}

// issuedTotal is the number of certificates iss has issued since it
// started, from its lantls_acme_certificates_issued_total counters.
func issuedTotal(t *testing.T, iss *issuer) int {
	t.Helper()
	resp, body := iss.get(t, iss.BaseURL+"/metrics")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s\n%s", resp.Status, body)
	}
	n := 0
	for _, line := range strings.Split(string(body), "\n") {
		if i := strings.LastIndexByte(line, ' '); i > 0 && strings.HasPrefix(line, "lantls_acme_certificates_issued_total") {
			v, err := strconv.ParseFloat(line[i+1:], 64)
			if err != nil {
				t.Fatalf("GET /metrics: %q: %v", line, err)
			}
			n += int(v)
		}
	}
	return n
}

// proxyClient trusts only roots and connects to addr for every name.
func proxyClient(roots *x509.CertPool, addr string) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
	}}
}

func get(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s %s", url, resp.Status, b)
	}
	return string(b)
}

// servedSerial is the serial of the certificate a new handshake gets.
func servedSerial(t *testing.T, roots *x509.CertPool, addr, host string) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: host})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Text(16)
}

func preflight(t *testing.T, c *http.Client, host, origin string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodOptions, "https://"+host+"/", nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Private-Network", "true")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("Access-Control-Allow-Origin")
}

// TestAgentLearnsRevokeAndUnpair: the binary learns what the owner did,
// within the minute its policy poll takes (RFC 9773's ARI would take
// hours): after 'admin device revoke-certificates' it serves a new
// certificate; after 'admin device unpair' it stops serving, wipes its
// state and (--on-unpair exit) exits 1 saying why.
func TestAgentLearnsRevokeAndUnpair(t *testing.T) {
	t.Parallel()
	const learnTimeout = 75 * time.Second // the one-minute poll, and slack for a loaded machine
	iss := startIssuer(t)
	ui := startDeviceUI(t)
	data := filepath.Join(t.TempDir(), "agent")
	port := freePort(t)
	agent := startAgent(t, "--issuer", iss.BaseURL, "--issuer-ca", iss.Root, "--data", data, "--model", "e2e TV",
		"--proxy-to", ui.srv.URL, "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--mdns=false", "--on-unpair", "exit")
	owner := loginOwner(t, iss, "alice")
	owner.approve(t, agent.waitOutput(t, userCodeLine, readyTimeout)[1])
	serial := agent.waitOutput(t, servingLine, readyTimeout)[1]
	label := agentStatus(t, data).Label
	host := "127-0-0-1." + label + "." + zone
	roots := x509.NewCertPool()
	pem, _ := os.ReadFile(iss.Root)
	roots.AppendCertsFromPEM(pem)
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	if r := iss.admin(t, "device", "revoke-certificates", label); r.code != 0 || !strings.Contains(r.stdout, "revoked 1 certificates") {
		t.Fatalf("device revoke-certificates:\n%s", r)
	}
	revoked := time.Now()
	if !testwait.Until(learnTimeout, func() bool { return servedSerial(t, roots, addr, host) != serial }) {
		t.Fatalf("still serving the revoked %s after %s\n%s", serial, learnTimeout, agent.logs())
	}
	t.Logf("revoked -> new certificate in %s", time.Since(revoked).Round(time.Millisecond))

	if r := iss.admin(t, "device", "unpair", label); r.code != 0 || !strings.Contains(r.stdout, "unpaired device "+label) {
		t.Fatalf("device unpair:\n%s", r)
	}
	unpaired := time.Now()
	select {
	case <-agent.done:
	case <-time.After(learnTimeout):
		t.Fatalf("the agent did not exit within %s of the unpair\n%s", learnTimeout, agent.logs())
	}
	t.Logf("unpaired -> agent exited in %s", time.Since(unpaired).Round(time.Millisecond))
	var ee *exec.ExitError
	if !errors.As(agent.err, &ee) || ee.ExitCode() != 1 || !strings.Contains(agent.stderr.String(), "unpaired") {
		t.Errorf("exit %v, want status 1 saying the device was unpaired\n%s", agent.err, agent.logs())
	}
	if left, _ := os.ReadDir(data); len(left) != 1 || left[0].Name() != "lock" {
		t.Errorf("the unpaired agent left %v in %s, want only the lock file", left, data)
	}
}
