package packaging

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// nfpm is the version scripts/release builds packages with.
const nfpm = "github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.48.0"

// need skips, or fails where CI requires every tool, when a tool is
// missing.
func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("LANTLS_E2E_REQUIRE") != "" {
				t.Fatalf("%s not found, and LANTLS_E2E_REQUIRE is set", tool)
			}
			t.Skipf("%s not found", tool)
		}
	}
}

// built holds the binaries and nfpm, built once for the package's tests.
var built struct {
	once sync.Once
	dir  string
	err  error
	out  []byte
}

// binaries builds lantls, lantls-agent and nfpm into a directory shared by
// this package's tests and returns it.
func binaries(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "lantls-packaging-")
		if built.err != nil {
			return
		}
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w -buildid=", "-o", built.dir+"/",
			"github.com/lantls/lantls/cmd/lantls", "github.com/lantls/lantls/cmd/lantls-agent")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if built.out, built.err = cmd.CombinedOutput(); built.err != nil {
			return
		}
		cmd = exec.Command("go", "install", nfpm)
		cmd.Env = append(os.Environ(), "GOBIN="+built.dir)
		built.out, built.err = cmd.CombinedOutput()
	})
	if built.err != nil {
		t.Fatalf("build: %v\n%s", built.err, built.out)
	}
	return built.dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// deb builds package pkg at version into dir and returns its path.
func deb(t *testing.T, bin, pkg, version, dir string) string {
	t.Helper()
	cmd := exec.Command("./deb.sh", filepath.Join(bin, "nfpm"), pkg, version, "amd64", filepath.Join(bin, pkg), dir)
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=1765000000")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("deb.sh %s %s: %v\n%s", pkg, version, err, out)
	}
	return filepath.Join(dir, pkg+"_"+version+"_amd64.deb")
}

// throwaway is an empty root dpkg can install into.
type throwaway struct {
	t    *testing.T
	root string
}

func newRoot(t *testing.T) *throwaway {
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return &throwaway{t, root}
}

// dpkg runs dpkg on the root; maintainer scripts run outside a chroot
// with DPKG_ROOT set, as they must support.
func (r *throwaway) dpkg(env []string, args ...string) string {
	r.t.Helper()
	cmd := exec.Command("dpkg", append([]string{"--root=" + r.root, "--force-script-chrootless", "--force-depends", "--log=/dev/null"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("dpkg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (r *throwaway) path(p string) string { return filepath.Join(r.root, p) }

// want checks that p exists with mode and owner uid.
func (r *throwaway) want(p string, mode os.FileMode, uid int) {
	r.t.Helper()
	fi, err := os.Lstat(r.path(p))
	if err != nil {
		r.t.Errorf("%s: %v", p, err)
		return
	}
	if fi.Mode().Perm() != mode || int(fi.Sys().(*syscall.Stat_t).Uid) != uid {
		r.t.Errorf("%s: mode %v uid %d, want %v uid %d", p, fi.Mode().Perm(), fi.Sys().(*syscall.Stat_t).Uid, mode, uid)
	}
}

func (r *throwaway) gone(p string) {
	r.t.Helper()
	if _, err := os.Lstat(r.path(p)); err == nil {
		r.t.Errorf("%s is still there", p)
	}
}

// user returns the uid and the passwd line of name in the root.
func (r *throwaway) user(name string) (int, string) {
	r.t.Helper()
	b, err := os.ReadFile(r.path("etc/passwd"))
	if err != nil {
		r.t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Split(line, ":"); len(f) == 7 && f[0] == name {
			uid, _ := strconv.Atoi(f[2])
			return uid, line
		}
	}
	r.t.Fatalf("no user %s in /etc/passwd:\n%s", name, b)
	return 0, ""
}

func (r *throwaway) read(p string) string {
	r.t.Helper()
	b, err := os.ReadFile(r.path(p))
	if err != nil {
		r.t.Fatal(err)
	}
	return string(b)
}

func (r *throwaway) write(p, s string) {
	r.t.Helper()
	if err := os.WriteFile(r.path(p), []byte(s), 0o600); err != nil {
		r.t.Fatal(err)
	}
}

// TestIssuerPackage installs the issuer's .deb into a throw-away root,
// checks its files, user and permissions, then upgrades, removes and
// purges it: the data dir and the operator's configuration survive each
// step they must survive.
func TestIssuerPackage(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("dpkg --root needs root to set owners")
	}
	need(t, "dpkg", "dpkg-deb", "systemd-sysusers")
	bin := binaries(t)
	dir := t.TempDir()
	v1 := deb(t, bin, "lantls", "1.0.0", dir)
	v2 := deb(t, bin, "lantls", "1.1.0", dir)

	r := newRoot(t)
	out := r.dpkg(nil, "-i", v1)
	if !strings.Contains(out, "edit /etc/lantls/issuer.conf, then: systemctl start lantls.service") {
		t.Errorf("first install says nothing of the configuration:\n%s", out)
	}
	uid, line := r.user("lantls")
	if uid == 0 || !strings.HasSuffix(line, ":/var/lib/lantls:/usr/sbin/nologin") {
		t.Errorf("system user: %q", line)
	}
	r.want("usr/bin/lantls", 0o755, 0)
	r.want("lib/systemd/system/lantls.service", 0o644, 0)
	r.want("etc/lantls/issuer.conf", 0o644, 0)
	r.want("etc/lantls/credentials", 0o700, 0)
	r.want("var/lib/lantls", 0o700, uid)
	r.want("var/lib/lantls-root-key", 0o700, uid)
	r.want("usr/lib/sysusers.d/lantls.conf", 0o644, 0)
	if conf := r.dpkg(nil, "--status", "lantls"); !strings.Contains(conf, "Conffiles:\n /etc/lantls/issuer.conf ") {
		t.Errorf("issuer.conf is no conffile:\n%s", conf)
	}

	// The operator configures, the issuer writes its state.
	conf := r.read("etc/lantls/issuer.conf") + "zone = hub-1.home.arpa\n"
	r.write("etc/lantls/issuer.conf", conf)
	r.write("var/lib/lantls/lantls.db", "the database")
	r.write("var/lib/lantls-root-key/root.key", "the root key")

	r.dpkg(nil, "-i", v2)
	if got := r.read("var/lib/lantls/lantls.db"); got != "the database" {
		t.Errorf("upgrade: database %q", got)
	}
	if got := r.read("etc/lantls/issuer.conf"); got != conf {
		t.Errorf("upgrade changed the operator's issuer.conf:\n%s", got)
	}
	if uid2, _ := r.user("lantls"); uid2 != uid {
		t.Errorf("upgrade: uid %d, was %d", uid2, uid)
	}
	if st := r.dpkg(nil, "--status", "lantls"); !strings.Contains(st, "Version: 1.1.0") {
		t.Errorf("upgrade: status\n%s", st)
	}

	r.dpkg(nil, "--remove", "lantls")
	r.gone("usr/bin/lantls")
	r.gone("lib/systemd/system/lantls.service")
	if r.read("var/lib/lantls/lantls.db") != "the database" || r.read("etc/lantls/issuer.conf") != conf {
		t.Error("remove lost the data or the configuration")
	}

	out = r.dpkg(nil, "--purge", "lantls")
	r.gone("etc/lantls/issuer.conf")
	if r.read("var/lib/lantls/lantls.db") != "the database" || r.read("var/lib/lantls-root-key/root.key") != "the root key" {
		t.Error("purge without LANTLS_PURGE_DATA=yes lost the data")
	}
	if !strings.Contains(out, "LANTLS_PURGE_DATA=yes") {
		t.Errorf("purge does not say how to drop the data:\n%s", out)
	}

	r.dpkg(nil, "-i", v2)
	if got := r.read("var/lib/lantls/lantls.db"); got != "the database" {
		t.Errorf("reinstall: database %q", got)
	}
	r.dpkg([]string{"LANTLS_PURGE_DATA=yes"}, "--purge", "lantls")
	r.gone("var/lib/lantls")
	r.gone("var/lib/lantls-root-key")
}

// TestAgentPackage installs, upgrades and removes the agent's .deb beside
// the issuer's: both share /etc/lantls.
func TestAgentPackage(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("dpkg --root needs root to set owners")
	}
	need(t, "dpkg", "dpkg-deb", "systemd-sysusers")
	bin := binaries(t)
	dir := t.TempDir()
	issuer := deb(t, bin, "lantls", "1.0.0", dir)
	v1 := deb(t, bin, "lantls-agent", "1.0.0", dir)
	v2 := deb(t, bin, "lantls-agent", "1.1.0", dir)

	r := newRoot(t)
	r.dpkg(nil, "-i", issuer, v1)
	uid, line := r.user("lantls-agent")
	if issuerUID, _ := r.user("lantls"); uid == issuerUID || !strings.HasSuffix(line, ":/var/lib/lantls-agent:/usr/sbin/nologin") {
		t.Errorf("agent user %q (the issuer's uid is %d)", line, issuerUID)
	}
	r.want("usr/bin/lantls-agent", 0o755, 0)
	r.want("etc/lantls/agent.conf", 0o644, 0)
	r.want("var/lib/lantls-agent", 0o700, uid)
	r.write("var/lib/lantls-agent/account.key", "the account key")
	r.dpkg(nil, "-i", v2)
	r.dpkg(nil, "--purge", "lantls-agent")
	r.gone("usr/bin/lantls-agent")
	r.gone("etc/lantls/agent.conf")
	r.want("etc/lantls/issuer.conf", 0o644, 0)
	if r.read("var/lib/lantls-agent/account.key") != "the account key" {
		t.Error("purge lost the agent's state")
	}
}

// unit returns the unit file with the ExecStart binary replaced by the
// built one (systemd-analyze verify checks that it exists).
func unit(t *testing.T, name, bin string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("systemd", name+".service"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "ExecStart=/usr/bin/"+name+" ", "ExecStart="+filepath.Join(bin, name)+" ", 1)
	path := filepath.Join(t.TempDir(), name+".service")
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestUnits runs systemd-analyze verify on both units and checks the
// issuer's exposure score (systemd-analyze security) is at most 2.0.
func TestUnits(t *testing.T) {
	need(t, "systemd-analyze")
	bin := binaries(t)
	for _, name := range []string{"lantls", "lantls-agent"} {
		path := unit(t, name, bin)
		if out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", name, err, out)
		}
		out, err := exec.Command("systemd-analyze", "security", "--offline=true", "--no-pager", path).CombinedOutput()
		if err != nil {
			t.Errorf("systemd-analyze security %s: %v\n%s", name, err, out)
			continue
		}
		i := strings.Index(string(out), "Overall exposure level for "+name+".service: ")
		if i < 0 {
			t.Errorf("systemd-analyze security %s: no overall exposure level\n%s", name, out)
			continue
		}
		f := strings.Fields(string(out[i:]))
		score, err := strconv.ParseFloat(f[5], 64)
		if err != nil || score > 2.0 {
			t.Errorf("%s.service exposure %s, want at most 2.0\n%s", name, f[5], out)
		}
		t.Logf("%s.service exposure %.1f", name, score)
	}
}

// TestIssuerUnitReady starts the issuer with the unit's ExecStart and
// environment file (the packaged issuer.conf, with the data and ports
// moved into the test's directory by LANTLS_* variables and a
// credential), and waits for READY=1 on a NOTIFY_SOCKET; SIGTERM then
// brings STOPPING=1 and a clean exit.
func TestIssuerUnitReady(t *testing.T) {
	bin := binaries(t)
	dir := t.TempDir()
	argv := execStart(t, filepath.Join("systemd", "lantls.service"))
	if argv[0] != "/usr/bin/lantls" || argv[len(argv)-1] != "/etc/lantls/issuer.conf" {
		t.Fatalf("ExecStart = %q: the test expects /usr/bin/lantls ... --config /etc/lantls/issuer.conf", argv)
	}
	argv[0] = filepath.Join(bin, "lantls")
	// The packaged configuration with one more setting: a secret from
	// the credentials directory, as LoadCredential= provides it.
	conf, err := os.ReadFile(filepath.Join("etc", "issuer.conf"))
	if err != nil {
		t.Fatal(err)
	}
	conf = append(conf, "upstream-eab-hmac-file = ${CREDENTIALS_DIRECTORY}/lantls_upstream-eab-hmac\n"...)
	argv[len(argv)-1] = filepath.Join(dir, "issuer.conf")
	creds := filepath.Join(dir, "credentials")
	os.Mkdir(creds, 0o700)
	for path, content := range map[string][]byte{
		argv[len(argv)-1]: conf,
		filepath.Join(creds, "lantls_upstream-eab-hmac"): []byte("c2VjcmV0\n"),
		// The unit's EnvironmentFile=/etc/default/lantls.
		filepath.Join(dir, "default"): []byte("LANTLS_DATA=" + dir + "/data\nLANTLS_ROOT_KEY_OUT=" + dir + "/root.key\n" +
			"LANTLS_LISTEN=127.0.0.1:0\nLANTLS_HTTP_LISTEN=127.0.0.1:0\nLANTLS_DNS_LISTEN=127.0.0.1:0\nLANTLS_ZONE=hub-1.home.arpa\n"),
	} {
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(dir, "notify")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(envFile(t, filepath.Join(dir, "default")), "NOTIFY_SOCKET="+sock, "CREDENTIALS_DIRECTORY="+creds, "PATH="+os.Getenv("PATH"))
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	if msg := readNotify(t, ln, 2*time.Minute); !strings.Contains(msg, "READY=1") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("first message %q, want READY=1; output:\n%s", msg, logs.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "issuer.json")); err != nil {
		t.Errorf("READY=1 before the data dir is set up: %v", err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if msg := readNotify(t, ln, time.Minute); msg != "STOPPING=1" {
		t.Errorf("after SIGTERM: %q, want STOPPING=1", msg)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", err, logs.String())
	}
}

// execStart returns the words of a unit's ExecStart=.
func execStart(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "ExecStart="); ok {
			return strings.Fields(v)
		}
	}
	t.Fatalf("%s has no ExecStart=", path)
	return nil
}

// envFile reads KEY=value lines as systemd's EnvironmentFile= does (no
// quoting used here).
func envFile(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" && line[0] != '#' {
			env = append(env, line)
		}
	}
	return env
}

func readNotify(t *testing.T, ln *net.UnixConn, wait time.Duration) string {
	t.Helper()
	ln.SetReadDeadline(time.Now().Add(wait))
	b := make([]byte, 4096)
	n, err := ln.Read(b)
	if err != nil {
		t.Fatalf("no sd_notify message within %v: %v", wait, err)
	}
	return string(b[:n])
}

// TestLintian checks both packages have no lintian error.
func TestLintian(t *testing.T) {
	need(t, "lintian")
	bin := binaries(t)
	dir := t.TempDir()
	debs := []string{deb(t, bin, "lantls", "1.0.0", dir), deb(t, bin, "lantls-agent", "1.0.0", dir)}
	out, err := exec.Command("lintian", append([]string{"--fail-on", "error", "--allow-root"}, debs...)...).CombinedOutput()
	if err != nil {
		t.Errorf("lintian: %v\n%s", err, out)
	}
	t.Logf("lintian:\n%s", out)
}
