package trust

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/lantls/lantls/internal/atomicfile"
)

// systemStore picks the system store of this machine.
func systemStore() (store, error) {
	switch runtime.GOOS {
	case "darwin":
		return macStore{}, nil
	case "windows":
		return windowsStore{}, nil
	}
	// Debian and Ubuntu; Fedora, RHEL and their kin; Arch (p11-kit).
	if tool := lookTool("update-ca-certificates"); tool != "" && isDir(debianAnchors) {
		return anchorDir{dir: debianAnchors, tool: tool, bundle: "/etc/ssl/certs/ca-certificates.crt"}, nil
	}
	if tool := lookTool("update-ca-trust"); tool != "" && isDir(fedoraAnchors) {
		return anchorDir{dir: fedoraAnchors, tool: tool, args: []string{"extract"}, bundle: "/etc/pki/tls/certs/ca-bundle.crt"}, nil
	}
	if lookTool("trust") != "" {
		return p11Store{}, nil
	}
	return nil, errors.New("no system trust store found: want update-ca-certificates (Debian, Ubuntu), update-ca-trust (Fedora, RHEL) or trust (Arch, p11-kit); add the root by hand, or use --system=false")
}

// lookTool finds a system tool on PATH, or in the sbin directories a
// user's PATH often lacks.
func lookTool(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

const (
	debianAnchors = "/usr/local/share/ca-certificates"
	fedoraAnchors = "/etc/pki/ca-trust/source/anchors"
)

// anchorDir is a directory of local anchors and the tool that rebuilds
// the system bundle from it.
type anchorDir struct {
	dir    string
	tool   string
	args   []string
	bundle string // the bundle the tool writes
}

func (s anchorDir) name() string { return "system (" + filepath.Base(s.tool) + ")" }

func (s anchorDir) path(root *x509.Certificate) string { return filepath.Join(s.dir, fileName(root)) }

// has needs both the file and the root in the bundle: a file the tool
// never ran over trusts nothing yet.
func (s anchorDir) has(_ context.Context, root *x509.Certificate) (bool, string, error) {
	p := s.path(root)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return false, "", nil
	}
	if err != nil {
		return false, "", err
	}
	if !bytes.Equal(b, pemOf(root)) {
		return false, "", fmt.Errorf("%s holds another certificate", p)
	}
	bundle, err := os.ReadFile(s.bundle)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, "", err
	}
	return containsCert(bundle, root), p, nil
}

func (s anchorDir) add(ctx context.Context, root *x509.Certificate) (string, error) {
	p := s.path(root)
	if err := atomicfile.Write(p, pemOf(root), 0o644); err != nil {
		return "", err
	}
	if _, err := run(ctx, s.tool, s.args...); err != nil {
		return "", err
	}
	return p + ", then " + strings.Join(append([]string{filepath.Base(s.tool)}, s.args...), " "), nil
}

func (s anchorDir) remove(ctx context.Context, root *x509.Certificate) (string, error) {
	p := s.path(root)
	if err := os.Remove(p); err != nil {
		return "", err
	}
	if _, err := run(ctx, s.tool, s.args...); err != nil {
		return "", err
	}
	return p + ", then " + strings.Join(append([]string{filepath.Base(s.tool)}, s.args...), " "), nil
}

// containsCert reports whether a PEM bundle holds root.
func containsCert(bundle []byte, root *x509.Certificate) bool {
	return bytes.Contains(bundle, pemOf(root)[len("-----BEGIN CERTIFICATE-----\n"):])
}

// p11Store is p11-kit's trust tool (Arch Linux): trust anchor --store and
// --remove.
type p11Store struct{}

func (p11Store) name() string { return "system (trust anchor)" }

func (p11Store) has(ctx context.Context, root *x509.Certificate) (bool, string, error) {
	dir, err := os.MkdirTemp("", "lantls-trust-")
	if err != nil {
		return false, "", err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "anchors.pem")
	if _, err := run(ctx, "trust", "extract", "--format=pem-bundle", "--filter=ca-anchors", out); err != nil {
		return false, "", err
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return false, "", err
	}
	return containsCert(b, root), label(root), nil
}

func (p11Store) add(ctx context.Context, root *x509.Certificate) (string, error) {
	f, err := writeTemp(root)
	if err != nil {
		return "", err
	}
	defer os.Remove(f)
	_, err = run(ctx, "trust", "anchor", "--store", f)
	return "trust anchor --store", err
}

func (p11Store) remove(ctx context.Context, root *x509.Certificate) (string, error) {
	f, err := writeTemp(root)
	if err != nil {
		return "", err
	}
	defer os.Remove(f)
	_, err = run(ctx, "trust", "anchor", "--remove", f)
	return "trust anchor --remove", err
}

// macStore is the macOS System keychain, through security(1).
type macStore struct{}

const macKeychain = "/Library/Keychains/System.keychain"

func (macStore) name() string { return "system (macOS System keychain)" }

func (macStore) has(ctx context.Context, root *x509.Certificate) (bool, string, error) {
	out, err := run(ctx, "security", "find-certificate", "-a", "-Z", macKeychain)
	if err != nil {
		return false, "", err
	}
	sum := sha1.Sum(root.Raw)
	return bytes.Contains(out, fmt.Appendf(nil, "SHA-1 hash: %X", sum[:])), macKeychain, nil
}

func (macStore) add(ctx context.Context, root *x509.Certificate) (string, error) {
	f, err := writeTemp(root)
	if err != nil {
		return "", err
	}
	defer os.Remove(f)
	_, err = run(ctx, "security", "add-trusted-cert", "-d", "-r", "trustRoot", "-k", macKeychain, f)
	return macKeychain, err
}

func (macStore) remove(ctx context.Context, root *x509.Certificate) (string, error) {
	f, err := writeTemp(root)
	if err != nil {
		return "", err
	}
	defer os.Remove(f)
	if _, err := run(ctx, "security", "remove-trusted-cert", "-d", f); err != nil {
		return "", err
	}
	sum := sha1.Sum(root.Raw)
	_, err = run(ctx, "security", "delete-certificate", "-Z", fmt.Sprintf("%X", sum[:]), macKeychain)
	return macKeychain, err
}

// windowsStore is the local machine's Root store, through certutil.exe.
type windowsStore struct{}

func (windowsStore) name() string { return "system (Windows Root store)" }

func (windowsStore) has(ctx context.Context, root *x509.Certificate) (bool, string, error) {
	_, err := exec.CommandContext(ctx, "certutil", "-store", "Root", serialHex(root)).CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return false, "", nil
	}
	return err == nil, "Root", err
}

func (windowsStore) add(ctx context.Context, root *x509.Certificate) (string, error) {
	f, err := writeTemp(root)
	if err != nil {
		return "", err
	}
	defer os.Remove(f)
	_, err = run(ctx, "certutil", "-addstore", "-f", "Root", f)
	return "Root", err
}

func (windowsStore) remove(ctx context.Context, root *x509.Certificate) (string, error) {
	_, err := run(ctx, "certutil", "-delstore", "Root", serialHex(root))
	return "Root", err
}

func serialHex(root *x509.Certificate) string { return fmt.Sprintf("%x", root.SerialNumber) }
