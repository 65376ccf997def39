package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// trustLab is a machine's trust stores for `lantls trust` to change
// without touching this machine's own: a HOME with an empty NSS database,
// and directories that a private mount namespace (unshare(1)) puts over
// /usr/local/share/ca-certificates, /etc/ssl/certs and the hooks of
// update-ca-certificates, for each command that runs in it.
type trustLab struct {
	home, nssdb           string
	anchors, certs, hooks string
}

func newTrustLab(t *testing.T) *trustLab {
	t.Helper()
	requireTool(t, "certutil", "libnss3-tools")
	requireTool(t, "unshare", "util-linux")
	requireTool(t, "update-ca-certificates", "ca-certificates")
	dir := t.TempDir()
	l := &trustLab{
		home:    filepath.Join(dir, "home"),
		nssdb:   filepath.Join(dir, "home", ".pki", "nssdb"),
		anchors: filepath.Join(dir, "anchors"),
		certs:   filepath.Join(dir, "certs"),
		hooks:   filepath.Join(dir, "hooks"),
	}
	for _, d := range []string{l.nssdb, l.anchors, l.certs, l.hooks} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mustRun(t, nil, "certutil", "-d", "sql:"+l.nssdb, "-N", "--empty-password")
	return l
}

// trust runs `lantls trust ARGS --home HOME` in a private mount namespace
// with the lab's directories over the system store's.
func (l *trustLab) trust(t *testing.T, args ...string) result {
	t.Helper()
	unshare := []string{"--mount", "--propagation", "private"}
	if os.Geteuid() != 0 {
		unshare = append(unshare, "--map-root-user")
	}
	script := `mount --bind "$1" /usr/local/share/ca-certificates && mount --bind "$2" /etc/ssl/certs &&
		mount --bind "$3" /etc/ca-certificates/update.d && shift 3 && exec "$@"`
	all := append(unshare, "sh", "-c", script, "sh", l.anchors, l.certs, l.hooks, lantlsBin, "trust")
	all = append(all, args...)
	return run(t, nil, "unshare", append(all, "--home", l.home)...)
}

// nssHas reports whether the lab's NSS database lists root as a trusted
// CA for TLS servers.
func (l *trustLab) nssHas(t *testing.T, root *x509.Certificate) bool {
	t.Helper()
	out := mustRun(t, nil, "certutil", "-d", "sql:"+l.nssdb, "-L").stdout
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, root.Subject.CommonName+" ") {
			return strings.HasSuffix(strings.TrimSpace(line), "C,,")
		}
	}
	return false
}

// systemHas reports whether the lab's system bundle holds root.
func (l *trustLab) systemHas(t *testing.T, root *x509.Certificate) bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(l.certs, "ca-certificates.crt"))
	if err != nil {
		return false
	}
	for {
		var block *pem.Block
		if block, b = pem.Decode(b); block == nil {
			return false
		}
		if string(block.Bytes) == string(root.Raw) {
			return true
		}
	}
}

func readRoot(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s holds no PEM", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTrustInstallUninstallStatus drives `lantls trust` through a root's
// life on one machine: status, install (system store and NSS), install
// again, uninstall, status. The machine's own store never changes.
func TestTrustInstallUninstallStatus(t *testing.T) {
	l := newTrustLab(t)
	data := filepath.Join(t.TempDir(), "data")
	mustRun(t, nil, lantlsBin, "ca", "init", "--data", data, "--zone", "home.arpa", "--permit", "hub.example.net,192.168.1.2", "--root-key-out", data+".key")
	rootFile := filepath.Join(data, "ca", "root.pem")
	root := readRoot(t, rootFile)
	sum := sha256.Sum256(root.Raw)
	hostBefore, _ := os.ReadDir("/usr/local/share/ca-certificates")

	step := func(name string, args []string, wantOut []string, wantSystem, wantNSS bool) {
		t.Helper()
		r := l.trust(t, args...)
		if r.code != 0 {
			t.Fatalf("%s failed:\n%s", name, r)
		}
		for _, w := range append([]string{"SHA-256", "permits      DNS:home.arpa, DNS:hub.example.net, IP:192.168.1.2/32", "excludes     IP:::/0"}, wantOut...) {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("%s: output lacks %q:\n%s", name, w, r)
			}
		}
		if got := l.systemHas(t, root); got != wantSystem {
			t.Errorf("%s: system bundle holds the root: %v, want %v", name, got, wantSystem)
		}
		if got := l.nssHas(t, root); got != wantNSS {
			t.Errorf("%s: NSS database trusts the root: %v, want %v", name, got, wantNSS)
		}
	}
	step("status before", []string{"status", "--root", rootFile},
		[]string{"system (update-ca-certificates): not trusted", "NSS " + l.nssdb + ": not trusted"}, false, false)
	step("install", []string{"install", "--root", rootFile},
		[]string{"system (update-ca-certificates): added (/usr/local/share/ca-certificates/lantls-" + hex.EncodeToString(sum[:8]) + ".crt, then update-ca-certificates)",
			"NSS " + l.nssdb + `: added (nickname "lantls local root home.arpa`}, true, true)
	step("status", []string{"status", "--root", rootFile},
		[]string{"system (update-ca-certificates): trusted", "NSS " + l.nssdb + ": trusted"}, true, true)
	step("install again", []string{"install", "--root", rootFile, "--fingerprint", hex.EncodeToString(sum[:])},
		[]string{"system (update-ca-certificates): trusted", "NSS " + l.nssdb + ": trusted"}, true, true)
	step("uninstall", []string{"uninstall", "--root", rootFile},
		[]string{"system (update-ca-certificates): removed", "NSS " + l.nssdb + ": removed"}, false, false)
	step("status after", []string{"status", "--root", rootFile},
		[]string{"system (update-ca-certificates): not trusted", "NSS " + l.nssdb + ": not trusted"}, false, false)

	hostAfter, _ := os.ReadDir("/usr/local/share/ca-certificates")
	if len(hostAfter) != len(hostBefore) {
		t.Errorf("the machine's own /usr/local/share/ca-certificates changed: %d entries, was %d", len(hostAfter), len(hostBefore))
	}
	for _, e := range hostAfter {
		if strings.HasPrefix(e.Name(), "lantls-") {
			t.Errorf("the machine's own store holds %s", e.Name())
		}
	}
}

// TestTrustRefusesUnconstrained: a root without name constraints is
// refused, nothing changes, until --allow-unconstrained.
func TestTrustRefusesUnconstrained(t *testing.T) {
	l := newTrustLab(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "unconstrained test root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	rootFile := filepath.Join(t.TempDir(), "root.crt")
	if err := os.WriteFile(rootFile, der, 0o644); err != nil { // DER, as browsers download it
		t.Fatal(err)
	}
	root, _ := x509.ParseCertificate(der)
	r := l.trust(t, "install", "--root", rootFile)
	if r.code != 1 || !strings.Contains(r.output(), "no critical name constraints") || !strings.Contains(r.output(), "--allow-unconstrained") ||
		!strings.Contains(r.stdout, "permits      ANY NAME") {
		t.Errorf("install of an unconstrained root:\n%s", r)
	}
	if l.systemHas(t, root) || l.nssHas(t, root) {
		t.Fatal("the refused root was installed")
	}
	r = l.trust(t, "install", "--root", rootFile, "--allow-unconstrained", "--system=false")
	if r.code != 0 || !l.nssHas(t, root) || l.systemHas(t, root) {
		t.Errorf("install --allow-unconstrained --system=false:\n%s", r)
	}
}

// TestTrustFromIssuer fetches the root from a running issuer's plain HTTP
// listener and installs it only when the fingerprint given matches.
func TestTrustFromIssuer(t *testing.T) {
	l := newTrustLab(t)
	iss := startIssuer(t)
	root := readRoot(t, iss.Root)
	sum := sha256.Sum256(root.Raw)
	plain := strings.TrimSuffix(iss.CRL, "/ca/crl")

	r := l.trust(t, "install", "--issuer", plain, "--system=false")
	if r.code != 2 || !strings.Contains(r.stderr, "--issuer needs --fingerprint") {
		t.Errorf("--issuer without --fingerprint:\n%s", r)
	}
	wrong := sha256.Sum256([]byte("another root"))
	r = l.trust(t, "install", "--issuer", plain, "--fingerprint", hex.EncodeToString(wrong[:]), "--system=false")
	if r.code != 1 || !strings.Contains(r.stderr, "not the fingerprint given: do not trust it") || l.nssHas(t, root) {
		t.Errorf("--issuer with a wrong fingerprint:\n%s", r)
	}
	// The fingerprint as the issuer shows it: colon-separated uppercase.
	var colons []string
	for _, b := range sum {
		colons = append(colons, strings.ToUpper(hex.EncodeToString([]byte{b})))
	}
	r = l.trust(t, "install", "--issuer", plain, "--fingerprint", strings.Join(colons, ":"), "--system=false")
	if r.code != 0 || !strings.Contains(r.stdout, "added") || !l.nssHas(t, root) {
		t.Errorf("--issuer with the right fingerprint:\n%s", r)
	}
}

// TestTrustAsksOnATerminal: on a terminal, install asks whether the
// fingerprint is the issuer's and changes nothing unless told yes.
func TestTrustAsksOnATerminal(t *testing.T) {
	l := newTrustLab(t)
	script := requireTool(t, "script", "util-linux")
	data := filepath.Join(t.TempDir(), "data")
	mustRun(t, nil, lantlsBin, "ca", "init", "--data", data, "--root-key-out", data+".key")
	root := readRoot(t, filepath.Join(data, "ca", "root.pem"))
	cmdline := shellQuote(nil, lantlsBin, []string{"trust", "install", "--data", data, "--system=false", "--home", l.home})
	for _, tt := range []struct {
		answer, want string
		trusted      bool
	}{
		{"n\n", "nothing changed: the root was not confirmed", false},
		{"\n", "nothing changed", false},
		{"y\n", "added", true},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), commandTimeout)
		cmd := exec.CommandContext(ctx, script, "-qec", cmdline, "/dev/null")
		cmd.Stdin = strings.NewReader(tt.answer)
		out, _ := cmd.CombinedOutput()
		cancel()
		if !strings.Contains(string(out), "Trust this root? [y/N]") || !strings.Contains(string(out), tt.want) {
			t.Errorf("answer %q: output lacks the question or %q:\n%s", tt.answer, tt.want, out)
		}
		if got := l.nssHas(t, root); got != tt.trusted {
			t.Errorf("answer %q: trusted %v, want %v", tt.answer, got, tt.trusted)
		}
	}
}

// TestTrustSystemStoreNeedsRoot: a user who is not root is told to use
// sudo or --system=false before anything is looked at or changed.
func TestTrustSystemStoreNeedsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the command as another user")
	}
	runuser := requireTool(t, "runuser", "util-linux")
	// Outside t.TempDir, whose parent only root may enter.
	dir, err := os.MkdirTemp("", "lantls-trust-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	mustRun(t, nil, lantlsBin, "ca", "init", "--data", data, "--root-key-out", data+".key")
	rootFile := filepath.Join(dir, "root.pem")
	b, err := os.ReadFile(filepath.Join(data, "ca", "root.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rootFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "lantls")
	if err := os.Link(lantlsBin, bin); err != nil {
		mustRun(t, nil, "cp", lantlsBin, bin)
	}
	if err := os.Chmod(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	r := run(t, nil, runuser, "-u", "nobody", "--", bin, "trust", "install", "--root", rootFile)
	if r.code != 1 || !strings.Contains(r.stderr, "the system store needs root: run it with sudo, or pass --system=false") {
		t.Errorf("trust install as nobody:\n%s", r)
	}
}
