// Package trust adds a lantls root to the trust stores of the machine it
// runs on (the system store and every NSS database: Chromium's, Firefox
// profiles), removes it, and says where it is trusted. It reads the root
// from a file or fetches it from an issuer over plain HTTP, checking a
// fingerprint given out of band, and refuses a root without name
// constraints unless told.
package trust

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"github.com/lantls/lantls/ca/local"
)

// Options say which stores to touch.
type Options struct {
	// System includes the operating system's store.
	System bool
	// NSS includes the NSS databases found under Home (Chromium's
	// ~/.pki/nssdb, Firefox profiles) and those in NSSDBs.
	NSS bool
	// Home is the home directory to look for NSS databases in; empty
	// means $HOME, or the invoking user's under sudo.
	Home string
	// NSSDBs are more NSS database directories.
	NSSDBs []string
	// AllowUnconstrained lets Install add a root without critical name
	// constraints, which vouches for every name.
	AllowUnconstrained bool
}

// Result is what one store says or did.
type Result struct {
	// Store names the store: "system (update-ca-certificates)", "NSS
	// /home/u/.pki/nssdb".
	Store string
	// Trusted says whether the root is in the store afterwards.
	Trusted bool
	// Changed says whether this call added or removed it.
	Changed bool
	// Detail says where: the file written, the NSS nickname.
	Detail string
	// Err is why the store could not be read or changed.
	Err error
}

func (r Result) String() string {
	switch {
	case r.Err != nil:
		return fmt.Sprintf("%s: FAILED: %v", r.Store, r.Err)
	case r.Changed && r.Trusted:
		return fmt.Sprintf("%s: added (%s)", r.Store, r.Detail)
	case r.Changed:
		return fmt.Sprintf("%s: removed (%s)", r.Store, r.Detail)
	case r.Trusted:
		return fmt.Sprintf("%s: trusted (%s)", r.Store, r.Detail)
	}
	return fmt.Sprintf("%s: not trusted", r.Store)
}

// ErrUnconstrained is Install's answer for a root without critical name
// constraints when Options.AllowUnconstrained is not set.
var ErrUnconstrained = errors.New("the root has no critical name constraints, so it could vouch for any name, your bank's included")

// ErrNoStore is the answer when Options select no store that exists here.
var ErrNoStore = errors.New("no trust store found")

// store is one place a root can be trusted.
type store interface {
	name() string
	has(ctx context.Context, root *x509.Certificate) (bool, string, error)
	add(ctx context.Context, root *x509.Certificate) (string, error)
	remove(ctx context.Context, root *x509.Certificate) (string, error)
}

// Install adds root to every selected store that lacks it. It returns one
// Result per store; the error is non-nil if any store failed.
func Install(ctx context.Context, root *x509.Certificate, o Options) ([]Result, error) {
	if err := CheckRoot(root); err != nil {
		return nil, err
	}
	if !local.Describe(root).Constrained && !o.AllowUnconstrained {
		return nil, ErrUnconstrained
	}
	return each(ctx, root, o, func(s store, r *Result) {
		ok, detail, err := s.has(ctx, root)
		if err != nil || ok {
			r.Trusted, r.Detail, r.Err = ok, detail, err
			return
		}
		r.Detail, r.Err = s.add(ctx, root)
		r.Trusted, r.Changed = r.Err == nil, r.Err == nil
	})
}

// Uninstall removes root from every selected store that has it.
func Uninstall(ctx context.Context, root *x509.Certificate, o Options) ([]Result, error) {
	return each(ctx, root, o, func(s store, r *Result) {
		ok, detail, err := s.has(ctx, root)
		if err != nil || !ok {
			r.Detail, r.Err = detail, err
			return
		}
		r.Detail, r.Err = s.remove(ctx, root)
		r.Trusted, r.Changed = r.Err != nil, r.Err == nil
	})
}

// Status says which selected stores trust root.
func Status(ctx context.Context, root *x509.Certificate, o Options) ([]Result, error) {
	return each(ctx, root, o, func(s store, r *Result) {
		r.Trusted, r.Detail, r.Err = s.has(ctx, root)
	})
}

func each(ctx context.Context, root *x509.Certificate, o Options, fn func(store, *Result)) ([]Result, error) {
	stores, err := stores(o)
	if err != nil {
		return nil, err
	}
	var results []Result
	var errs []error
	for _, s := range stores {
		r := Result{Store: s.name()}
		fn(s, &r)
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.Store, r.Err))
		}
		results = append(results, r)
	}
	return results, errors.Join(errs...)
}

// stores lists the selected stores that exist on this machine.
func stores(o Options) ([]store, error) {
	var out []store
	if o.System {
		s, err := systemStore()
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	if o.NSS && runtime.GOOS != "windows" { // Windows' certutil is another tool
		dbs, err := nssStores(o)
		if err != nil {
			return nil, err
		}
		out = append(out, dbs...)
	}
	if len(out) == 0 {
		return nil, ErrNoStore
	}
	return out, nil
}

// CheckRoot refuses a certificate that is not a self-signed CA.
func CheckRoot(root *x509.Certificate) error {
	if !root.IsCA || !root.BasicConstraintsValid {
		return errors.New("the certificate is not a CA certificate")
	}
	if !bytes.Equal(root.RawSubject, root.RawIssuer) || root.CheckSignatureFrom(root) != nil {
		return errors.New("the certificate is not a self-signed root")
	}
	return nil
}

// ParseRoot reads one certificate, PEM or DER.
func ParseRoot(b []byte) (*x509.Certificate, error) {
	if block, rest := pem.Decode(b); block != nil {
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block of type %s, want CERTIFICATE", block.Type)
		}
		if len(bytes.TrimSpace(rest)) != 0 {
			return nil, errors.New("more than one PEM block: want the root alone")
		}
		b = block.Bytes
	}
	cert, err := x509.ParseCertificate(b)
	if err != nil {
		return nil, fmt.Errorf("not a certificate in PEM or DER: %w", err)
	}
	return cert, nil
}

// ParseFingerprint reads a SHA-256 fingerprint in hex, with or without
// colons or spaces, in either case.
func ParseFingerprint(s string) ([]byte, error) {
	clean := strings.NewReplacer(":", "", " ", "", "-", "").Replace(strings.TrimSpace(s))
	clean = strings.TrimPrefix(strings.ToLower(clean), "sha256")
	b, err := hex.DecodeString(clean)
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("fingerprint %q is not a SHA-256 in hex (64 hex digits, colons allowed)", s)
	}
	return b, nil
}

// MatchFingerprint reports whether root's SHA-256 is want.
func MatchFingerprint(root *x509.Certificate, want []byte) bool {
	sum := sha256.Sum256(root.Raw)
	return bytes.Equal(sum[:], want)
}

// pemOf is root in PEM.
func pemOf(root *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw})
}

// label names root in stores: its subject and the start of its
// fingerprint, so two roots for one zone (after a re-key) differ.
func label(root *x509.Certificate) string {
	sum := sha256.Sum256(root.Raw)
	cn := root.Subject.CommonName
	if cn == "" {
		cn = "lantls root"
	}
	return fmt.Sprintf("%s %X", cn, sum[:4])
}

// fileName is root's file name in a system anchors directory.
func fileName(root *x509.Certificate) string {
	sum := sha256.Sum256(root.Raw)
	return fmt.Sprintf("lantls-%x.crt", sum[:8])
}

// run runs a command and returns its combined output, with the output in
// the error when it fails.
func run(ctx context.Context, name string, args ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return out, nil
}

// writeTemp writes root's PEM to a temporary file for tools that read a
// file; the caller removes it.
func writeTemp(root *x509.Certificate) (string, error) {
	f, err := os.CreateTemp("", "lantls-root-*.pem")
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := f.Write(pemOf(root)); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	if err := f.Chmod(0o644); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}
