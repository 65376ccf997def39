package agentcmd

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lantls/lantls/agent"
)

func runCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := Run(context.Background(), "lantls-agent", args, &out, &errOut)
	return out.String() + errOut.String(), err
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args    []string
		mention string
	}{
		{[]string{"--data", dir}, "--issuer is required"},
		{[]string{"--data", dir, "--issuer", "https://i", "--proxy-to", "ftp://x"}, "--proxy-to"},
		{[]string{"--data", dir, "--issuer", "https://i", "--cert-file", "c.pem"}, "--key-file"},
		{[]string{"--data", dir, "--issuer", "https://i", "--on-renew", "true"}, "files mode"},
		{[]string{"--data", dir, "--log-level", "loud", "--issuer", "https://i"}, "--log-level"},
		{[]string{"--bogus"}, "--help"},
		{[]string{"status", "extra"}, "unexpected argument"},
	} {
		_, err := runCmd(t, tc.args...)
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%q: %v, want a usage error mentioning %q", tc.args, err, tc.mention)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"status", "--help"}, {"reset", "--help"}} {
		out, err := runCmd(t, args...)
		if !errors.Is(err, flag.ErrHelp) || !strings.Contains(out, "Usage: lantls-agent") || !strings.Contains(out, "--data") {
			t.Errorf("%q: %v\n%s", args, err, out)
		}
	}
}

func TestStatus(t *testing.T) {
	dir := t.TempDir()
	if _, err := runCmd(t, "status", "--data", dir); err == nil || !strings.Contains(err.Error(), "pair first") {
		t.Errorf("status of an unpaired agent: %v, want advice to pair first", err)
	}
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("account.key", testKeyPEM(t))
	write("credentials.json", `{"issuer":"https://i","access_token":"t","directory":"https://i/acme/directory","label":"abc","zone":"lan.test","names":["abc.lan.test","*.abc.lan.test"]}`)
	write("status.json", `{"label":"abc","names":["abc.lan.test","*.abc.lan.test"],"serial":"1f","failures":2,"last_error":"renew certificate: boom","addresses":["192.168.1.20"],"https_port":"8443"}`)
	out, err := runCmd(t, "status", "--data", dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"agent         not running", "issuer        https://i", "label         abc", "fingerprint   abc", "abc.lan.test, *.abc.lan.test", "serial        1f", "failures      2", "last error    renew certificate: boom", "url           https://192-168-1-20.abc.lan.test:8443/"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	// While an agent holds the state's lock, status says it runs.
	unlock, err := agent.DirStorage(dir).Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if out, err := runCmd(t, "status", "--data", dir); err != nil || !strings.Contains(out, "agent         running") {
		t.Errorf("status while locked: %v\n%s", err, out)
	}
	unlock()
	out, err = runCmd(t, "status", "--data", dir, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Label    string
		Failures int
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Label != "abc" || st.Failures != 2 {
		t.Errorf("status --json: %v %+v\n%s", err, st, out)
	}
}

// testKeyPEM is a fresh P-256 key in PKCS #8 PEM, as the agent stores its
// account key.
func testKeyPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// TestServerTimeouts: every server the agent runs bounds how long a
// request may take to arrive and how long an idle keep-alive connection
// holds its file descriptor.
func TestServerTimeouts(t *testing.T) {
	for _, proxy := range []bool{false, true} {
		s := newServer(http.NotFoundHandler(), slog.New(slog.DiscardHandler), proxy)
		if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.IdleTimeout <= 0 || s.MaxHeaderBytes <= 0 {
			t.Errorf("proxy=%v: ReadHeaderTimeout %v, ReadTimeout %v, IdleTimeout %v, MaxHeaderBytes %d: want all set",
				proxy, s.ReadHeaderTimeout, s.ReadTimeout, s.IdleTimeout, s.MaxHeaderBytes)
		}
	}
}

func TestOnLoopback(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:8443": true, "[::1]:443": true, "[::]:8443": false, "0.0.0.0:443": false, "192.168.1.20:443": false} {
		if got := onLoopback(addr); got != want {
			t.Errorf("onLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestListenIP(t *testing.T) {
	for addr, want := range map[string]string{"192.168.1.20:443": "192.168.1.20", "[fd00::20]:8443": "fd00::20", ":443": "", "0.0.0.0:443": "", "[::]:443": "", "nas.local:443": "", "[fe80::1%eth0]:443": ""} {
		ip, ok := listenIP(addr)
		if got := ip.String(); (want == "" && ok) || (want != "" && got != want) {
			t.Errorf("listenIP(%q) = %v, %v; want %q", addr, ip, ok, want)
		}
	}
}

// TestResetCorruptState: status and reset on damaged credentials say what
// to do, and reset --force wipes them.
func TestResetCorruptState(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "account.key"), []byte(testKeyPEM(t)), 0o600)
	os.WriteFile(filepath.Join(dir, "credentials.json"), []byte("{garbage"), 0o600)
	os.WriteFile(filepath.Join(dir, "status.json"), []byte("{}"), 0o600)
	if _, err := runCmd(t, "status", "--data", dir); !errors.Is(err, agent.ErrCorruptState) || !strings.Contains(err.Error(), "reset --force") {
		t.Errorf("status: %v, want ErrCorruptState advising reset --force", err)
	}
	if _, err := runCmd(t, "reset", "--data", dir); !errors.Is(err, agent.ErrCorruptState) || !strings.Contains(err.Error(), "--force") {
		t.Errorf("reset: %v, want ErrCorruptState advising --force", err)
	}
	if out, err := runCmd(t, "reset", "--force", "--data", dir); err != nil || !strings.Contains(out, "wiped") {
		t.Fatalf("reset --force: %v\n%s", err, out)
	}
	if left, _ := os.ReadDir(dir); len(left) != 1 || left[0].Name() != "lock" {
		t.Errorf("reset --force left %v", left)
	}
}

// TestResetIssuerDown: reset without a reachable issuer keeps the state
// and says to pass --force; with --force it wipes and says the
// certificate was NOT revoked.
func TestResetIssuerDown(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(0x1f), DNSNames: []string{"abc.lan.test"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("account.key", testKeyPEM(t))
	// Port 1 on loopback: nothing listens, the issuer is down.
	write("credentials.json", `{"issuer":"https://127.0.0.1:1","access_token":"t","directory":"https://127.0.0.1:1/acme/directory","label":"abc","zone":"lan.test","names":["abc.lan.test"],"account_url":"https://127.0.0.1:1/acme/account/1"}`)
	write("tls.key", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})))
	write("chain.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	if _, err := runCmd(t, "reset", "--data", dir); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("reset with the issuer down: %v, want advice to pass --force", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "credentials.json")); err != nil {
		t.Errorf("reset without --force deleted the state: %v", err)
	}
	out, err := runCmd(t, "reset", "--force", "--data", dir)
	if err != nil || !strings.Contains(out, "certificate 1f NOT revoked") || strings.Contains(out, "revoked certificate") {
		t.Errorf("reset --force with the issuer down: %v\n%s", err, out)
	}
	if left, _ := os.ReadDir(dir); len(left) != 1 || left[0].Name() != "lock" {
		t.Errorf("reset --force left %v", left)
	}
}
