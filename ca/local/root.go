package local

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/lantls/lantls/internal/atomicfile"
	"github.com/lantls/lantls/names"
)

// InitOptions say how Init makes a CA.
type InitOptions struct {
	// Zone is the issuer's DNS zone, e.g. "lan.test": the root permits it
	// and every name below it.
	Zone string
	// Permit lists what the root permits besides the zone: DNS names,
	// each with every name below it (e.g. "localhost", the issuer's host
	// name outside the zone, or "local" for mDNS names), and IP addresses
	// or CIDR prefixes. Every other IP address is excluded. Names inside
	// the zone are left out as already permitted.
	Permit []string
	// RootKeyFile is where Init writes the root's key, PKCS#8 PEM, 0600;
	// it must not exist yet, and must lie outside the CA directory, which
	// the running issuer reads. Empty means the key is kept nowhere: the
	// CA works until its intermediate expires, but no new intermediate can
	// be made for its root.
	RootKeyFile string
	// Passphrase, when not empty, encrypts the root key file (PKCS#8
	// PBES2: PBKDF2-HMAC-SHA256 and AES-256-CBC, which openssl reads).
	Passphrase []byte
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// ExistsError is Init's answer for a directory that already holds a CA,
// or a root key file that already exists.
type ExistsError struct {
	Path    string
	RootKey bool // Path is the root key file asked for
}

func (e *ExistsError) Error() string {
	if e.RootKey {
		return fmt.Sprintf("%s already exists and a key is never overwritten: move it away (if it is the root key of a CA in use, off this machine), or write the new root key elsewhere", e.Path)
	}
	return fmt.Sprintf("%s already exists: a CA is never overwritten", e.Path)
}

// Init makes a new CA in dir: a root whose critical name constraints
// permit the zone and opts.Permit and exclude every other IP address, and
// an intermediate under it with the same constraints, path length 0 and
// serverAuth only. It writes the root's key to opts.RootKeyFile, never to
// dir, and returns the root. It refuses a dir that holds any CA file.
func Init(dir string, opts InitOptions) (*x509.Certificate, error) {
	zone, err := names.Normalize(opts.Zone)
	if err != nil || strings.HasPrefix(zone, "*") {
		return nil, fmt.Errorf("init ca: zone %q is not a DNS name", opts.Zone)
	}
	dnsNames, ips, err := parsePermit(zone, opts.Permit)
	if err != nil {
		return nil, fmt.Errorf("init ca: %w", err)
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	if err := checkInitPaths(dir, opts.RootKeyFile); err != nil {
		return nil, fmt.Errorf("init ca: %w", err)
	}

	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("init ca: generate root key: %w", err)
	}
	t := now()
	rootTmpl, err := caTemplate(t, &rootKey.PublicKey, "lantls local root "+zone, RootLifetimeYears)
	if err != nil {
		return nil, fmt.Errorf("init ca: %w", err)
	}
	constrain(rootTmpl, dnsNames, ips)
	root, err := createCertificate(rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	if err != nil {
		return nil, fmt.Errorf("init ca: sign root: %w", err)
	}
	inter, interKey, err := newIntermediate(t, root, rootKey)
	if err != nil {
		return nil, fmt.Errorf("init ca: %w", err)
	}
	if opts.RootKeyFile != "" {
		if err := writeRootKey(opts.RootKeyFile, rootKey, opts.Passphrase); err != nil {
			return nil, fmt.Errorf("init ca: %w", err)
		}
	}
	if err := writeCA(dir, root, inter, interKey); err != nil {
		return nil, fmt.Errorf("init ca: %w", err)
	}
	return root, nil
}

// checkInitPaths refuses a CA directory that holds any CA file and a root
// key file that exists or lies inside the CA directory.
func checkInitPaths(dir, rootKeyFile string) error {
	for _, name := range append([]string{RootKeyFile}, files...) {
		p := filepath.Join(dir, name)
		if _, err := os.Lstat(p); err == nil {
			return &ExistsError{Path: p}
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if rootKeyFile == "" {
		return nil
	}
	if _, err := os.Lstat(rootKeyFile); err == nil {
		return &ExistsError{Path: rootKeyFile, RootKey: true}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	absKey, err := filepath.Abs(rootKeyFile)
	if err != nil {
		return err
	}
	if Inside(absKey, absDir) {
		return fmt.Errorf("the root key file %s is inside the CA directory %s, which the running issuer reads: keep it elsewhere", rootKeyFile, dir)
	}
	return nil
}

// Inside reports whether path is dir or lies below it; both are absolute
// and clean.
func Inside(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// parsePermit splits what a root should permit besides zone into DNS
// names (zone first) and IP ranges.
func parsePermit(zone string, permit []string) ([]string, []*net.IPNet, error) {
	dnsNames := []string{zone}
	var ips []*net.IPNet
	for _, p := range permit {
		p = strings.TrimSpace(p)
		if pfx, err := netip.ParsePrefix(p); err == nil {
			pfx = pfx.Masked()
			ips = appendRange(ips, &net.IPNet{IP: pfx.Addr().AsSlice(), Mask: net.CIDRMask(pfx.Bits(), pfx.Addr().BitLen())})
			continue
		}
		if addr, err := netip.ParseAddr(strings.Trim(p, "[]")); err == nil {
			if addr.Zone() != "" {
				return nil, nil, fmt.Errorf("permitted address %q has a zone", p)
			}
			addr = addr.Unmap()
			ips = appendRange(ips, &net.IPNet{IP: addr.AsSlice(), Mask: net.CIDRMask(addr.BitLen(), addr.BitLen())})
			continue
		}
		n, err := hostName(p)
		if err != nil {
			return nil, nil, fmt.Errorf("%q to permit is neither a DNS name nor an IP address or prefix", p)
		}
		if names.InZone(n, zone) || slices.ContainsFunc(dnsNames, func(d string) bool { return names.InZone(n, d) }) {
			continue
		}
		dnsNames = append(dnsNames, n)
	}
	return dnsNames, ips, nil
}

func appendRange(ips []*net.IPNet, n *net.IPNet) []*net.IPNet {
	for _, have := range ips {
		if have.String() == n.String() {
			return ips
		}
	}
	return append(ips, n)
}

// constrain gives tmpl critical name constraints (RFC 5280 section
// 4.2.1.10) that permit dnsNames and ips and exclude every IP address of a
// family that ips does not mention, as a permitted IPv4 range alone would
// leave IPv6 open in clients that keep the families apart.
func constrain(tmpl *x509.Certificate, dnsNames []string, ips []*net.IPNet) {
	tmpl.PermittedDNSDomainsCritical = true
	tmpl.PermittedDNSDomains = dnsNames
	tmpl.PermittedIPRanges = ips
	v4, v6 := false, false
	for _, n := range ips {
		if n.IP.To4() != nil && len(n.IP) == net.IPv4len {
			v4 = true
		} else {
			v6 = true
		}
	}
	tmpl.ExcludedIPRanges = nil
	if !v4 {
		tmpl.ExcludedIPRanges = append(tmpl.ExcludedIPRanges, &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)})
	}
	if !v6 {
		tmpl.ExcludedIPRanges = append(tmpl.ExcludedIPRanges, &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)})
	}
}

// constrained reports whether cert is a root lantls made with name
// constraints: critical, permitting DNS names, limiting IP addresses.
func constrained(cert *x509.Certificate) bool {
	return cert.PermittedDNSDomainsCritical && len(cert.PermittedDNSDomains) > 0 &&
		(len(cert.PermittedIPRanges) > 0 || len(cert.ExcludedIPRanges) > 0)
}

// newIntermediate makes an intermediate under root, valid for
// IntermediateLifetimeYears but never past the root, with the root's name
// constraints: the root's already bind it, and repeating them lets a
// client that checks only the issuing CA's see them too. Path length 0
// and serverAuth keep it to signing TLS server certificates.
func newIntermediate(now time.Time, root *x509.Certificate, rootKey crypto.Signer) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate intermediate key: %w", err)
	}
	zone := root.PermittedDNSDomains[0]
	tmpl, err := caTemplate(now, &key.PublicKey, "lantls local intermediate "+zone, IntermediateLifetimeYears)
	if err != nil {
		return nil, nil, err
	}
	if tmpl.NotAfter.After(root.NotAfter) {
		tmpl.NotAfter = root.NotAfter
	}
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	tmpl.MaxPathLen, tmpl.MaxPathLenZero = 0, true
	tmpl.PermittedDNSDomainsCritical = true
	tmpl.PermittedDNSDomains = root.PermittedDNSDomains
	tmpl.PermittedIPRanges = root.PermittedIPRanges
	tmpl.ExcludedIPRanges = root.ExcludedIPRanges
	inter, err := createCertificate(tmpl, root, &key.PublicKey, rootKey)
	if err != nil {
		return nil, nil, fmt.Errorf("sign intermediate: %w", err)
	}
	return inter, key, nil
}

// writeCA writes a new CA's files into dir, the key first.
func writeCA(dir string, root, inter *x509.Certificate, interKey crypto.Signer) error {
	interKeyPEM, err := marshalKey(interKey)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("make directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("make directory: %w", err)
	}
	contents := map[string][]byte{
		IntermediateKeyFile:  interKeyPEM,
		RootCertFile:         pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw}),
		IntermediateCertFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: inter.Raw}),
	}
	for _, name := range files {
		if err := atomicfile.Write(filepath.Join(dir, name), contents[name], 0o600); err != nil {
			return err
		}
	}
	return nil
}

// nextSuffix marks the files of an intermediate that RotateIntermediate
// has written but not yet put in place.
const nextSuffix = ".next"

// RotateIntermediate makes a new intermediate for the CA in dir with the
// root's key, and puts it in place of the old one, which it adds to
// PreviousIntermediatesFile. A running CA takes it on Reload; certificates
// the old one signed stay valid until they expire, as both chain to the
// same root, and Intermediates still lists it. A crash part way is finished by
// the next RotateIntermediate or Open: the key and certificate are written
// beside the old ones and renamed over them, the certificate last.
func RotateIntermediate(dir string, rootKey crypto.Signer, now time.Time) (*x509.Certificate, error) {
	// A key written by a rotation that crashed before its certificate is
	// dropped here, by the next rotation, and nowhere else: a running
	// issuer reloading the directory must not take a rotation in
	// progress for an abandoned one.
	if err := finishRotation(dir, true); err != nil {
		return nil, fmt.Errorf("rotate intermediate: %w", err)
	}
	rootPath := filepath.Join(dir, RootCertFile)
	root, err := readCert(rootPath)
	if err != nil {
		return nil, fmt.Errorf("rotate intermediate: %w", err)
	}
	pub, ok := rootKey.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(root.PublicKey) {
		return nil, fmt.Errorf("rotate intermediate: the key given is not the key of %s", rootPath)
	}
	if !constrained(root) {
		return nil, fmt.Errorf("rotate intermediate: %s has no name constraints; make a new CA instead", rootPath)
	}
	if err := keepPrevious(dir); err != nil {
		return nil, fmt.Errorf("rotate intermediate: %w", err)
	}
	inter, key, err := newIntermediate(now, root, rootKey)
	if err != nil {
		return nil, fmt.Errorf("rotate intermediate: %w", err)
	}
	keyPEM, err := marshalKey(key)
	if err != nil {
		return nil, fmt.Errorf("rotate intermediate: %w", err)
	}
	keyPath, certPath := filepath.Join(dir, IntermediateKeyFile), filepath.Join(dir, IntermediateCertFile)
	if err := atomicfile.Write(keyPath+nextSuffix, keyPEM, 0o600); err != nil {
		return nil, fmt.Errorf("rotate intermediate: %w", err)
	}
	// The certificate written is the commit point: from here on the
	// rotation is finished, never undone.
	if err := atomicfile.Write(certPath+nextSuffix, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: inter.Raw}), 0o600); err != nil {
		return nil, fmt.Errorf("rotate intermediate: %w", err)
	}
	if err := finishRotation(dir, false); err != nil {
		return nil, fmt.Errorf("rotate intermediate: %w", err)
	}
	return inter, nil
}

// keepPrevious adds the intermediate signing now to
// PreviousIntermediatesFile, unless it is there, so the issuer still
// knows its certificates as its own after the rotation.
func keepPrevious(dir string) error {
	path := filepath.Join(dir, PreviousIntermediatesFile)
	cur, err := os.ReadFile(filepath.Join(dir, IntermediateCertFile))
	if err != nil {
		return err
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if bytes.Contains(old, cur) {
		return nil
	}
	return atomicfile.Write(path, append(old, cur...), 0o600)
}

// finishRotation completes a rotation whose new certificate was written
// (renaming the key, then the certificate, into place). With abandon it
// also drops the key of a rotation whose certificate never was: only the
// next rotation may, since for anyone else that key may be a rotation
// still in progress.
func finishRotation(dir string, abandon bool) error {
	keyPath, certPath := filepath.Join(dir, IntermediateKeyFile), filepath.Join(dir, IntermediateCertFile)
	_, err := os.Stat(certPath + nextSuffix)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if !abandon {
			// A new key without its certificate is a rotation in
			// progress (or one that crashed, which the next one drops).
			return nil
		}
		if err := os.Remove(keyPath + nextSuffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	case err != nil:
		return err
	}
	// Committed: the rotating process and a reloading issuer may both
	// finish it; whoever renames a file second finds it gone.
	if err := os.Rename(keyPath+nextSuffix, keyPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Rename(certPath+nextSuffix, certPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// permits reports whether the name constraints of ca allow host, a DNS
// name or an IP address, as RFC 5280 section 4.2.1.10 reads them.
func permits(ca *x509.Certificate, host string) bool {
	if addr, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		ip := net.IP(addr.Unmap().AsSlice())
		for _, n := range ca.ExcludedIPRanges {
			if n.Contains(ip) {
				return false
			}
		}
		if len(ca.PermittedIPRanges) == 0 {
			return true
		}
		return slices.ContainsFunc(ca.PermittedIPRanges, func(n *net.IPNet) bool { return n.Contains(ip) })
	}
	n, err := hostName(host)
	if err != nil {
		return false
	}
	if slices.ContainsFunc(ca.ExcludedDNSDomains, func(d string) bool { return dnsMatches(n, d) }) {
		return false
	}
	if len(ca.PermittedDNSDomains) == 0 {
		return true
	}
	return slices.ContainsFunc(ca.PermittedDNSDomains, func(d string) bool { return dnsMatches(n, d) })
}

// dnsMatches reports whether name falls under the dNSName constraint c:
// c itself and names below it, or only names below it when c starts with
// a dot.
func dnsMatches(name, c string) bool {
	c = strings.ToLower(c)
	if strings.HasPrefix(c, ".") {
		return strings.HasSuffix(name, c)
	}
	return name == c || strings.HasSuffix(name, "."+c)
}
