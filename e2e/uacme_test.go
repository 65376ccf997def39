package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// uacme runs Debian's uacme against one issuer for one device, with its own
// configuration directory.
//
// uacme (libcurl with GnuTLS) trusts only the system store and has no flag
// or environment variable for another, so each run gets a private mount
// namespace (unshare(1)) in which a directory holding just the issuer's
// root is bind-mounted over /etc/ssl/certs. Nothing outside that process
// changes, so tests run in parallel and leave the machine as it was; as
// root this needs no user namespace, otherwise unshare maps the user to
// root in a new one.
type uacme struct {
	bin   string
	dev   *device
	dir   string // uacme's -c directory
	certs string // what the process sees as /etc/ssl/certs
	base  []string
}

func newUacme(t *testing.T, iss *issuer, d *device) *uacme {
	t.Helper()
	bin := requireTool(t, "uacme", "uacme")
	requireTool(t, "unshare", "util-linux")
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	root, err := os.ReadFile(iss.Root)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(certs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(certs, "ca-certificates.crt"), root, 0o644); err != nil {
		t.Fatal(err)
	}
	return &uacme{
		bin:   bin,
		dev:   d,
		dir:   filepath.Join(dir, "conf"),
		certs: certs,
		base:  []string{"-v", "-c", filepath.Join(dir, "conf"), "-a", iss.Directory, "-t", "EC"},
	}
}

// run runs uacme with args after the common flags, trusting only the
// issuer's root.
func (u *uacme) run(t *testing.T, args ...string) result {
	t.Helper()
	unshare := []string{"--mount", "--propagation", "private"}
	if os.Geteuid() != 0 {
		unshare = append(unshare, "--map-root-user")
	}
	// The script's $0 is the directory to mount, "$@" the uacme command.
	script := `mount --bind "$0" /etc/ssl/certs && exec "$@"`
	all := append(unshare, "sh", "-c", script, u.certs, u.bin)
	all = append(all, u.base...)
	return run(t, []string{"HOME=" + u.dir}, "unshare", append(all, args...)...)
}

// cert is the chain uacme saved for the device's first name.
func (u *uacme) certPath() string { return filepath.Join(u.dir, u.dev.Names[0], "cert.pem") }

// testUacme registers with the device's EAB key, issues L.Z and *.L.Z,
// checks the chain against the root, and revokes it.
func testUacme(t *testing.T, iss *issuer) {
	dev := addDevice(t, iss)
	u := newUacme(t, iss, dev)

	// uacme first asks for an existing account (onlyReturnExisting) and
	// creates one only on accountDoesNotExist with status 400, which RFC
	// 8555 section 7.3.1 requires.
	if r := u.run(t, "-y", "-e", dev.EABKID+":"+dev.EABHMACKey, "new"); r.code != 0 {
		t.Fatalf("uacme new failed:\n%s", r)
	}
	// The authorizations are valid already, so the hook is never run;
	// uacme wants one all the same.
	if r := u.run(t, "-h", "/bin/true", "issue", dev.Names[0], dev.Names[1]); r.code != 0 {
		t.Fatalf("uacme issue failed:\n%s", r)
	}
	issued := readChain(t, u.certPath())
	verifyDeviceChain(t, iss, dev, issued)

	if r := u.run(t, "-r", "4", "revoke", u.certPath()); r.code != 0 {
		t.Fatalf("uacme revoke failed:\n%s", r)
	}
	requireRevoked(t, iss, issued, reasonSuperseded)

	// The same EAB key with another account key is refused, and uacme
	// shows why.
	other := newUacme(t, iss, dev)
	r := other.run(t, "-y", "-e", dev.EABKID+":"+dev.EABHMACKey, "new")
	if r.code == 0 || !strings.Contains(r.output(), "urn:ietf:params:acme:error:unauthorized") {
		t.Errorf("uacme new with a used EAB key: want a failure naming unauthorized:\n%s", r)
	}
}
