package trust

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
)

// nssStore is one NSS database in SQL format (cert9.db), changed with
// NSS's certutil from libnss3-tools.
type nssStore struct {
	dir string
	// as runs certutil as this user (sudo -u), when we are root on the
	// user's behalf, so the database keeps its owner.
	as string
}

// nssStores finds the NSS databases under the home directory and adds
// o.NSSDBs.
func nssStores(o Options) ([]store, error) {
	home, as, err := homeDir(o.Home)
	if err != nil {
		return nil, err
	}
	var dirs []string
	if home != "" {
		for _, pattern := range []string{
			".pki/nssdb",                                      // Chromium, Chrome
			"snap/chromium/current/.pki/nssdb",                // Chromium as a snap
			".mozilla/firefox/*",                              // Firefox profiles
			"snap/firefox/common/.mozilla/firefox/*",          // Firefox as a snap
			".var/app/org.mozilla.firefox/.mozilla/firefox/*", // Firefox as a Flatpak
			"Library/Application Support/Firefox/Profiles/*",  // Firefox on macOS
		} {
			m, _ := filepath.Glob(filepath.Join(home, pattern))
			dirs = append(dirs, m...)
		}
	}
	dirs = append(dirs, o.NSSDBs...)
	var out []store
	for _, d := range dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(filepath.Join(abs, "cert9.db")); err != nil {
			if slices.Contains(o.NSSDBs, d) {
				return nil, fmt.Errorf("%s is not an NSS database (no cert9.db)", d)
			}
			continue
		}
		if !slices.ContainsFunc(out, func(s store) bool { return s.(nssStore).dir == abs }) {
			out = append(out, nssStore{dir: abs, as: as})
		}
	}
	if len(out) > 0 {
		if _, err := exec.LookPath("certutil"); err != nil {
			return nil, errors.New("NSS databases found, but no certutil to change them: install libnss3-tools (Debian, Ubuntu) or nss-tools (Fedora), or use --nss=false")
		}
	}
	return out, nil
}

// homeDir is home, or $HOME; under sudo, the invoking user's home, and
// that user's name to run certutil as.
func homeDir(home string) (string, string, error) {
	if home != "" {
		return home, "", nil
	}
	if name := os.Getenv("SUDO_USER"); name != "" && os.Geteuid() == 0 {
		u, err := user.Lookup(name)
		if err != nil {
			return "", "", fmt.Errorf("find the home of %s, who ran sudo: %w", name, err)
		}
		return u.HomeDir, name, nil
	}
	h, err := os.UserHomeDir()
	if err != nil {
		return "", "", nil // no home: no user databases
	}
	return h, "", nil
}

func (s nssStore) name() string { return "NSS " + s.dir }

func (s nssStore) certutil(ctx context.Context, args ...string) ([]byte, error) {
	args = append([]string{"-d", "sql:" + s.dir}, args...)
	if s.as != "" {
		return run(ctx, "sudo", append([]string{"-u", s.as, "--", "certutil"}, args...)...)
	}
	return run(ctx, "certutil", args...)
}

func (s nssStore) has(ctx context.Context, root *x509.Certificate) (bool, string, error) {
	nick := label(root)
	out, err := s.certutil(ctx, "-L", "-n", nick, "-a")
	if err != nil {
		// certutil says the nickname is unknown in words that vary by
		// version; a database it cannot open fails -L without -n too.
		if _, err2 := s.certutil(ctx, "-L"); err2 != nil {
			return false, "", err2
		}
		return false, "", nil
	}
	if !bytes.Contains(bytes.ReplaceAll(out, []byte("\r\n"), []byte("\n")), pemOf(root)[len("-----BEGIN CERTIFICATE-----\n"):]) {
		return false, "", fmt.Errorf("nickname %q holds another certificate", nick)
	}
	trust, err := s.certutil(ctx, "-L")
	if err != nil {
		return false, "", err
	}
	// The listing's last column is the trust flags, SSL first: C (or T)
	// makes it an anchor for TLS servers.
	for _, line := range strings.Split(string(trust), "\n") {
		if strings.HasPrefix(line, nick+" ") {
			flags := strings.Fields(line)
			return strings.ContainsAny(strings.Split(flags[len(flags)-1], ",")[0], "CT"), fmt.Sprintf("nickname %q", nick), nil
		}
	}
	return false, "", nil
}

func (s nssStore) add(ctx context.Context, root *x509.Certificate) (string, error) {
	f, err := writeTemp(root)
	if err != nil {
		return "", err
	}
	defer os.Remove(f)
	nick := label(root)
	// C,, : a trusted CA for TLS servers, nothing for mail or code.
	if _, err := s.certutil(ctx, "-A", "-t", "C,,", "-n", nick, "-i", f); err != nil {
		return "", err
	}
	return fmt.Sprintf("nickname %q", nick), nil
}

func (s nssStore) remove(ctx context.Context, root *x509.Certificate) (string, error) {
	nick := label(root)
	if _, err := s.certutil(ctx, "-D", "-n", nick); err != nil {
		return "", err
	}
	return fmt.Sprintf("nickname %q", nick), nil
}
