// Package local is the built-in CA of lantls: a root whose name
// constraints permit the issuer's zone and the few names its operator
// lists, with its key kept elsewhere, and an intermediate with the same
// constraints, kept as files in one directory, that signs device
// certificates for names inside the zone and the issuer's own.
package local

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/lantls/lantls/keypolicy"
	"github.com/lantls/lantls/names"
)

// The files of a CA directory, all 0600 in a 0700 directory. The root's
// key is never among them (Init writes it elsewhere); only a CA made
// before roots were name-constrained keeps it there, as RootKeyFile.
const (
	// RootCertFile holds the root certificate in PEM.
	RootCertFile = "root.pem"
	// RootKeyFile is where a CA directory made by an older lantls keeps
	// its root's key, PKCS#8 PEM: see CA.Legacy.
	RootKeyFile = "root.key"
	// IntermediateCertFile holds the intermediate certificate in PEM.
	IntermediateCertFile = "intermediate.pem"
	// IntermediateKeyFile holds the intermediate's key, PKCS#8 PEM.
	IntermediateKeyFile = "intermediate.key"
	// PreviousIntermediatesFile holds, in PEM, the intermediates that
	// signed before RotateIntermediate replaced them, oldest first; it
	// exists only after a rotation.
	PreviousIntermediatesFile = "previous-intermediates.pem"
)

// Lifetimes of the certificates the CA makes for itself.
const (
	// RootLifetimeYears is the root's lifetime.
	RootLifetimeYears = 10
	// IntermediateLifetimeYears is the intermediate's lifetime.
	IntermediateLifetimeYears = 5
	// ServerCertLifetime is the lifetime of the issuer's own HTTPS
	// certificate made by ServerCertificate.
	ServerCertLifetime = 90 * 24 * time.Hour
)

// Backdate is how far before the signing time every certificate's
// NotBefore lies, so a client whose clock runs a little behind still
// accepts a certificate issued a moment ago.
const Backdate = time.Minute

// Options configure a CA.
type Options struct {
	// Zone is the issuer's DNS zone, e.g. "lan.test". The intermediate is
	// name-constrained to it and Sign refuses names outside it.
	Zone string
	// BaseURL is where the issuer serves the CA's files, e.g.
	// "http://127.0.0.1:8080". Leaves carry BaseURL+"/ca/crl" as CRL
	// distribution point and BaseURL+"/ca/intermediate.crt" as AIA
	// caIssuers; RFC 5280 sections 4.2.1.13 and 4.2.2.1 ask for http://
	// there (fetchers need not speak TLS, and Chromium and Windows fetch
	// only http://). Empty means leaves carry neither.
	BaseURL string
	// Keys says which certificate keys Sign accepts; the zero value is
	// keypolicy.Default. The ACME front end should get the same.
	Keys keypolicy.Policy
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Init says how Open makes a CA in a directory that holds none; its
	// Zone and Now are Open's.
	Init InitOptions
}

// ZoneError is Open's answer for a CA made for another zone.
type ZoneError struct {
	Dir  string // the CA directory
	Made string // the zone its intermediate is constrained to
	Want string // the zone Open was asked for
}

func (e *ZoneError) Error() string {
	return fmt.Sprintf("the CA in %s was made for zone %q, not %q: use zone %s to use it, "+
		"or a new CA directory to make a CA for %q", e.Dir, e.Made, e.Want, e.Made, e.Want)
}

// CA is a name-constrained root, without its key, and an intermediate with
// the same constraints and its key. Every method is safe for concurrent
// use, and signing takes no lock: Reload swaps the intermediate in one
// atomic store.
type CA struct {
	zone   string
	keys   keypolicy.Policy
	crlURL string
	aiaURL string
	now    func() time.Time
	root   *x509.Certificate
	// rootKey is nil but in a legacy CA (unconstrained root, key in the
	// directory), whose root still signs the issuer's own certificate.
	rootKey crypto.Signer
	// strayRootKey says the directory holds a root key that Open left
	// alone, as the root is constrained and needs it for nothing.
	strayRootKey bool
	rootPEM      []byte
	// dir is the CA directory, which Reload reads again.
	dir string
	// cur is the intermediate that signs; Reload replaces it.
	cur atomic.Pointer[signing]
	// previous are the intermediates that signed before rotations.
	previous atomic.Pointer[[]*x509.Certificate]
	// crlNumber is the last CRL number handed out, so numbers increase
	// even when two CRLs are made within one millisecond.
	crlNumber atomic.Int64
}

// Open loads the CA kept in dir, or makes one there with Init (opts.Init)
// when dir holds none of the CA's files. It fails if dir holds only some of
// them, or a CA made for another zone: it never overwrites a key. It loads
// the root's key only from a legacy directory (see Legacy).
func Open(dir string, opts Options) (*CA, error) {
	zone, err := names.Normalize(opts.Zone)
	if err != nil || strings.HasPrefix(zone, "*") {
		return nil, fmt.Errorf("open ca: zone %q is not a DNS name", opts.Zone)
	}
	c := &CA{zone: zone, keys: opts.Keys, now: opts.Now}
	if c.now == nil {
		c.now = time.Now
	}
	if opts.BaseURL != "" {
		u, err := url.Parse(opts.BaseURL)
		// Leaves carry the URLs as IA5Strings, which are ASCII.
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || !isASCII(opts.BaseURL) {
			return nil, fmt.Errorf("open ca: base URL %q is not an http(s) URL", opts.BaseURL)
		}
		base := strings.TrimSuffix(opts.BaseURL, "/")
		c.crlURL = base + "/ca/crl"
		c.aiaURL = base + "/ca/intermediate.crt"
	}

	if err := finishRotation(dir, true); err != nil {
		return nil, fmt.Errorf("open ca: finish the rotation of the intermediate: %w", err)
	}
	present, missing, err := inventory(dir)
	if err != nil {
		return nil, fmt.Errorf("open ca: %w", err)
	}
	if len(present) == 0 {
		io := opts.Init
		io.Zone, io.Now = zone, c.now
		if _, err := Init(dir, io); err != nil {
			return nil, fmt.Errorf("open ca: %w", err)
		}
		present, missing = files, nil
	}
	switch {
	case len(missing) == 0:
		err = c.load(dir)
	default:
		err = fmt.Errorf("%s holds %s but not %s, as if an earlier first start was interrupted; "+
			"restore the missing files, or remove the directory to make a new CA (devices must then trust the new root)",
			dir, strings.Join(present, ", "), strings.Join(missing, ", "))
	}
	if err != nil {
		return nil, fmt.Errorf("open ca: %w", err)
	}
	c.rootPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.root.Raw})
	return c, nil
}

// signing is an intermediate with its key, and what signing with it
// needs made once.
type signing struct {
	inter *x509.Certificate
	key   crypto.Signer
	pem   []byte // inter in PEM, the end of every chain
	// parts are the DER pieces Sign puts in every leaf; nil when
	// crypto/x509 signs leaves instead.
	parts *leafParts
}

func (c *CA) newSigning(inter *x509.Certificate, key crypto.Signer) (*signing, error) {
	s := &signing{inter: inter, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: inter.Raw})}
	var err error
	if s.parts, err = c.newLeafParts(s); err != nil {
		return nil, fmt.Errorf("leaf extensions: %w", err)
	}
	return s, nil
}

// current is the intermediate signing now.
func (c *CA) current() *signing { return c.cur.Load() }

// Reload reads the CA directory again (finishing a rotation cut off part
// way) and signs with its intermediate from now on, when it is another
// one than before. It reports whether it changed. An intermediate that
// does not load, or is not the root's, leaves the old one signing.
func (c *CA) Reload() (bool, error) {
	if err := finishRotation(c.dir, false); err != nil {
		return false, fmt.Errorf("reload ca: %w", err)
	}
	inter, err := readCert(filepath.Join(c.dir, IntermediateCertFile))
	if err != nil {
		return false, fmt.Errorf("reload ca: %w", err)
	}
	if inter.Equal(c.current().inter) {
		return false, nil
	}
	key, err := readKey(filepath.Join(c.dir, IntermediateKeyFile), inter)
	if err != nil {
		return false, fmt.Errorf("reload ca: %w", err)
	}
	if err := c.checkIntermediate(inter); err != nil {
		return false, fmt.Errorf("reload ca: %w", err)
	}
	s, err := c.newSigning(inter, key)
	if err != nil {
		return false, fmt.Errorf("reload ca: %w", err)
	}
	previous, err := c.readPrevious(inter)
	if err != nil {
		return false, fmt.Errorf("reload ca: %w", err)
	}
	c.previous.Store(&previous)
	c.cur.Store(s)
	return true, nil
}

// Root returns the root certificate, the one clients trust.
func (c *CA) Root() *x509.Certificate { return c.root }

// Intermediates returns the intermediate that signs now, then those that
// signed before it (see RotateIntermediate), whose certificates stay
// valid until they expire.
func (c *CA) Intermediates() []*x509.Certificate {
	return append([]*x509.Certificate{c.current().inter}, *c.previous.Load()...)
}

// Intermediate returns the name-constrained intermediate that signs leaves
// and CRLs.
func (c *CA) Intermediate() *x509.Certificate { return c.current().inter }

// RootPEM returns the root certificate in PEM.
func (c *CA) RootPEM() []byte { return bytes.Clone(c.rootPEM) }

// Zone returns the zone the CA was made for.
func (c *CA) Zone() string { return c.zone }

// Legacy reports whether the CA was made by an older lantls: its root
// carries no name constraints, so a client that trusts it accepts whatever
// its key signs, and its key is in the CA directory. Such a CA keeps
// working (its root still signs the issuer's own certificate) until the
// operator makes a new one with Init.
func (c *CA) Legacy() bool { return c.rootKey != nil }

// StrayRootKey reports whether the CA directory holds a root key that
// does not belong there: the root is constrained, so Open did not load
// it, but anyone who reads the directory can still sign with it.
func (c *CA) StrayRootKey() bool { return c.strayRootKey }

// Permits reports whether the intermediate's name constraints allow a
// certificate for host, a DNS name or an IP address.
func (c *CA) Permits(host string) bool { return permits(c.current().inter, host) }

// files lists the CA's files in the order Init writes them: the key first,
// so a directory with both certificates always has the key.
var files = []string{IntermediateKeyFile, RootCertFile, IntermediateCertFile}

func inventory(dir string) (present, missing []string, err error) {
	for _, name := range files {
		_, err := os.Stat(filepath.Join(dir, name))
		switch {
		case err == nil:
			present = append(present, name)
		case errors.Is(err, os.ErrNotExist):
			missing = append(missing, name)
		default:
			return nil, nil, err
		}
	}
	return present, missing, nil
}

// caTemplate is what the root and the intermediate share: a CA certificate
// for pub, named cn, valid for years from now (backdated).
func caTemplate(now time.Time, pub crypto.PublicKey, cn string, years int) (*x509.Certificate, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	ski, err := subjectKeyID(pub)
	if err != nil {
		return nil, err
	}
	notBefore := now.Add(-Backdate)
	return &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"lantls"}},
		NotBefore:             notBefore,
		NotAfter:              notBefore.AddDate(years, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          ski,
	}, nil
}

func (c *CA) load(dir string) error {
	root, err := readCert(filepath.Join(dir, RootCertFile))
	if err != nil {
		return err
	}
	inter, err := readCert(filepath.Join(dir, IntermediateCertFile))
	if err != nil {
		return err
	}
	interKey, err := readKey(filepath.Join(dir, IntermediateKeyFile), inter)
	if err != nil {
		return err
	}
	if err := root.CheckSignatureFrom(root); err != nil {
		return fmt.Errorf("%s is not a self-signed CA certificate: %w", filepath.Join(dir, RootCertFile), err)
	}
	c.root, c.dir = root, dir
	if err := c.checkIntermediate(inter); err != nil {
		return err
	}
	rootKeyPath := filepath.Join(dir, RootKeyFile)
	_, err = os.Stat(rootKeyPath)
	haveRootKey := err == nil
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var rootKey crypto.Signer
	switch {
	case constrained(root):
		c.strayRootKey = haveRootKey
	case !haveRootKey:
		return fmt.Errorf("%s has no name constraints and %s is missing: this CA was made by an older version, "+
			"which keeps the root key there; restore it, or make a new CA", filepath.Join(dir, RootCertFile), rootKeyPath)
	default:
		if rootKey, err = readKey(rootKeyPath, root); err != nil {
			return err
		}
	}
	s, err := c.newSigning(inter, interKey)
	if err != nil {
		return err
	}
	previous, err := c.readPrevious(inter)
	if err != nil {
		return err
	}
	c.rootKey = rootKey
	c.cur.Store(s)
	c.previous.Store(&previous)
	return nil
}

// readPrevious reads the intermediates that signed before current, each
// checked against the root.
func (c *CA) readPrevious(current *x509.Certificate) ([]*x509.Certificate, error) {
	path := filepath.Join(c.dir, PreviousIntermediatesFile)
	all, err := readCerts(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for _, p := range all {
		if p.Equal(current) {
			continue
		}
		if err := p.CheckSignatureFrom(c.root); err != nil {
			return nil, fmt.Errorf("%s holds %q, which is not signed by the root: %w", path, p.Subject.CommonName, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// checkIntermediate checks that inter is signed by the root and
// constrained to the zone, which Init puts first among its permitted DNS
// names.
func (c *CA) checkIntermediate(inter *x509.Certificate) error {
	if err := inter.CheckSignatureFrom(c.root); err != nil {
		return fmt.Errorf("%s is not signed by %s: %w", filepath.Join(c.dir, IntermediateCertFile), filepath.Join(c.dir, RootCertFile), err)
	}
	permitted := inter.PermittedDNSDomains
	if len(permitted) == 0 || !inter.PermittedDNSDomainsCritical {
		return fmt.Errorf("%s is not name-constrained to a zone (permitted DNS domains %q); "+
			"use a new CA directory to make a CA for zone %q", filepath.Join(c.dir, IntermediateCertFile), permitted, c.zone)
	}
	if permitted[0] != c.zone {
		return &ZoneError{Dir: c.dir, Made: permitted[0], Want: c.zone}
	}
	return nil
}

// readCerts reads a file of PEM certificates.
func readCerts(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("parse %s: PEM block of type %s, want CERTIFICATE", path, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", path, err)
		}
		out = append(out, c)
	}
	if len(bytes.TrimSpace(b)) != 0 {
		return nil, fmt.Errorf("parse %s: data that is not PEM", path)
	}
	return out, nil
}

func readCert(path string) (*x509.Certificate, error) {
	der, err := readPEM(path, "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return cert, nil
}

// readKey reads a PKCS#8 key and checks that it belongs to cert.
func readKey(path string, cert *x509.Certificate) (crypto.Signer, error) {
	der, err := readPEM(path, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("parse %s: %T cannot sign", path, k)
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%s does not hold the key of certificate %q", path, cert.Subject.CommonName)
	}
	return signer, nil
}

func readPEM(path, blockType string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, rest := pem.Decode(b)
	if block == nil || block.Type != blockType {
		return nil, fmt.Errorf("parse %s: want one PEM block of type %s", path, blockType)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("parse %s: data after the %s block", path, blockType)
	}
	return block.Bytes, nil
}

func marshalKey(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// createCertificate signs tmpl and parses the result.
func createCertificate(tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// randomSerial returns a positive 128-bit serial number: 16 random bytes
// with the top bit cleared, so the DER integer needs no leading zero byte
// and stays 16 bytes long, and never zero.
func randomSerial() (*big.Int, error) {
	var b [16]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("serial number: %w", err)
		}
		b[0] &= 0x7f
		if n := new(big.Int).SetBytes(b[:]); n.Sign() > 0 {
			return n, nil
		}
	}
}

// subjectKeyID is keyID of pub as crypto/x509 encodes it.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("subject key identifier: %w", err)
	}
	return keyID(spki)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
