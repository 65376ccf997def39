// Package attest verifies the device attestations of
// draft-ietf-acme-device-attest (-09): the WebAuthn attestation object a
// client sends as {"attObj": ...} to answer a device-attest-01 challenge.
//
// It verifies two statement formats, each against the roots an operator
// configures (a TPM maker's or an attestation CA's, a device maker's):
//
//   - "tpm" (WebAuthn section 8.3): a TPM 2.0 attestation key (AK),
//     certified by x5c, signs a TPM2_Certify of the attested key
//     (pubArea); the certify's extraData is the hash of the key
//     authorization. The attested key is the one in pubArea, and must have
//     been made inside the TPM and be unable to leave it.
//   - "packed" (WebAuthn section 8.2) with x5c: the attested key is the
//     key of the leaf certificate, which a device maker certified, and it
//     signs the key authorization itself. Self attestation (no x5c) proves
//     nothing about hardware and is refused.
//
// Per the draft (section 5), the key authorization takes the place of
// WebAuthn's authenticatorData || clientDataHash as attToBeSigned, and
// authData is ignored. CBOR is read with github.com/fxamacker/cbor/v2, TPM
// structures with github.com/google/go-tpm, certificates with crypto/x509.
//
// The device identifiers the statement proves (section 5, step 3) come
// from the leaf certificate: PermanentIdentifier (RFC 4043) and
// HardwareModuleName (RFC 4108) subjectAltNames, and the subject's
// serialNumber attribute as a permanent identifier without assigner.
package attest

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// The statement formats this package verifies (WebAuthn attestation
// statement format identifiers).
const (
	FormatTPM    = "tpm"
	FormatPacked = "packed"
)

// The identifier types of the draft (sections 3 and 4).
const (
	PermanentIdentifier = "permanent-identifier"
	HardwareModule      = "hardware-module"
)

// MaxObject bounds the size of an attestation object in bytes; a TPM
// statement with a three-certificate chain is about 3 kB.
const MaxObject = 32 << 10

// Object is a WebAuthn attestation object (section 6.5.4) as the draft
// uses it: authData is unused and SHOULD be omitted.
type Object struct {
	Format    string          `cbor:"fmt"`
	Statement cbor.RawMessage `cbor:"attStmt"`
	AuthData  []byte          `cbor:"authData,omitempty"`
}

// TPMStatement is the attStmt of the "tpm" format (WebAuthn section 8.3).
type TPMStatement struct {
	Ver      string   `cbor:"ver"`
	Alg      int64    `cbor:"alg"`
	X5C      [][]byte `cbor:"x5c"`
	Sig      []byte   `cbor:"sig"`      // a TPMT_SIGNATURE over CertInfo
	CertInfo []byte   `cbor:"certInfo"` // a TPMS_ATTEST of type TPM_ST_ATTEST_CERTIFY
	PubArea  []byte   `cbor:"pubArea"`  // the TPMT_PUBLIC of the attested key
}

// PackedStatement is the attStmt of the "packed" format (WebAuthn section
// 8.2).
type PackedStatement struct {
	Alg int64    `cbor:"alg"`
	Sig []byte   `cbor:"sig"`
	X5C [][]byte `cbor:"x5c,omitempty"`
}

// Marshal returns the attestation object carrying st in format, for a
// client to send base64url-encoded as attObj.
func Marshal(format string, st any) ([]byte, error) {
	raw, err := encMode.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("encode attestation statement: %w", err)
	}
	return encMode.Marshal(Object{Format: format, Statement: raw})
}

// Result is what a verified statement proves.
type Result struct {
	Format string
	// Key is the attested key: the certificate request's key must be it.
	Key crypto.PublicKey
	// Leaf is the certificate of the key that signed the statement; Root
	// the configured root its chain ends at.
	Leaf *x509.Certificate
	Root *x509.Certificate
	// PermanentIdentifiers and HardwareModules are the identifier values
	// the leaf certifies, in the draft's order-resource syntax.
	PermanentIdentifiers []string
	HardwareModules      []string
}

// Proves reports whether the statement proves the identifier (typ, value),
// an octet-for-octet match as the draft asks (sections 3.2 and 4.2).
func (r *Result) Proves(typ, value string) bool {
	switch typ {
	case PermanentIdentifier:
		return slices.Contains(r.PermanentIdentifiers, value)
	case HardwareModule:
		return slices.Contains(r.HardwareModules, value)
	}
	return false
}

// RootFingerprint is the lowercase hex SHA-256 of the root certificate.
func (r *Result) RootFingerprint() string { return Fingerprint(r.Root) }

// Fingerprint is the lowercase hex SHA-256 of c's DER.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// Verifier verifies attestation objects against configured roots. Its zero
// value trusts no root and so refuses every statement.
type Verifier struct {
	// Roots are the manufacturer or attestation CA roots a chain must end
	// at.
	Roots []*x509.Certificate
	// Now is the clock certificates are checked against; nil is time.Now.
	Now func() time.Time
}

// Verify checks the attestation object attObj made for the key
// authorization keyAuth (RFC 8555 section 8.1) and returns what it proves.
// Every error is a reason to refuse the statement, written for the client
// (badAttestationStatement's detail): it names what was wrong, never a
// secret.
func (v *Verifier) Verify(attObj []byte, keyAuth string) (*Result, error) {
	if len(attObj) > MaxObject {
		return nil, fmt.Errorf("the attestation object is %d bytes, more than the %d accepted", len(attObj), MaxObject)
	}
	var obj Object
	if err := decMode.Unmarshal(attObj, &obj); err != nil {
		return nil, fmt.Errorf("the attestation object is not the CBOR map of WebAuthn section 6.5.4: %v", err)
	}
	if len(obj.Statement) == 0 {
		return nil, errors.New("the attestation object has no attStmt")
	}
	var (
		res *Result
		err error
	)
	switch obj.Format {
	case FormatTPM:
		res, err = v.verifyTPM(obj.Statement, []byte(keyAuth))
	case FormatPacked:
		res, err = v.verifyPacked(obj.Statement, []byte(keyAuth))
	case "":
		return nil, errors.New("the attestation object has no fmt")
	default:
		return nil, fmt.Errorf("attestation format %q is not supported; this issuer verifies %q and %q", obj.Format, FormatTPM, FormatPacked)
	}
	if err != nil {
		return nil, fmt.Errorf("%s statement: %w", obj.Format, err)
	}
	res.Format = obj.Format
	return res, nil
}

// chain verifies that the DER certificates x5c (leaf first) chain to one
// of the roots at the verifier's time, and returns the leaf and that root.
func (v *Verifier) chain(x5c [][]byte) (leaf, root *x509.Certificate, err error) {
	if len(x5c) == 0 {
		return nil, nil, errors.New("x5c is missing: self attestation says nothing about the hardware")
	}
	if len(x5c) > maxChain {
		return nil, nil, fmt.Errorf("x5c has %d certificates, more than %d", len(x5c), maxChain)
	}
	certs := make([]*x509.Certificate, len(x5c))
	for i, der := range x5c {
		if certs[i], err = x509.ParseCertificate(der); err != nil {
			return nil, nil, fmt.Errorf("x5c[%d] is not a certificate: %v", i, err)
		}
	}
	leaf = certs[0]
	if leaf.IsCA {
		return nil, nil, errors.New("the attestation certificate (x5c[0]) is a CA certificate")
	}
	// This package reads the otherNames of the subjectAltName itself
	// (identifiers.go); crypto/x509 leaves a critical one of only
	// otherNames unhandled, as a TPM's AK certificate with an empty subject
	// has it (RFC 5280 section 4.2.1.6).
	leaf.UnhandledCriticalExtensions = slices.DeleteFunc(leaf.UnhandledCriticalExtensions, oidSubjectAltName.Equal)
	if len(v.Roots) == 0 {
		return nil, nil, errors.New("this issuer has no attestation roots configured")
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, r := range v.Roots {
		roots.AddCert(r)
	}
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, CurrentTime: now,
		// The EKU an attestation certificate carries depends on the format
		// (tcg-kp-AIKCertificate for TPM AKs); each format checks its own.
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return nil, nil, chainError(err, leaf, now)
	}
	return leaf, chains[0][len(chains[0])-1], nil
}

// maxChain bounds x5c.
const maxChain = 5

// chainError says why a chain failed in words a device maker can act on.
func chainError(err error, leaf *x509.Certificate, now time.Time) error {
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) && inv.Reason == x509.Expired {
		c := inv.Cert
		what := "a certificate of the attestation chain"
		if c == leaf {
			what = "the attestation certificate"
		}
		return fmt.Errorf("%s %q is valid from %s to %s, not at %s", what, c.Subject, c.NotBefore.UTC().Format(time.RFC3339),
			c.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	var ua x509.UnknownAuthorityError
	if errors.As(err, &ua) {
		return fmt.Errorf("the attestation certificate %q (issuer %q) does not chain to a root this issuer trusts", leaf.Subject, leaf.Issuer)
	}
	return fmt.Errorf("the attestation certificate chain is not valid: %v", err)
}

// LoadRoots reads every PEM certificate in the files of dir (*.pem, *.crt),
// for Verifier.Roots. A directory without one is an error: an issuer told
// to check attestations that trusts no root would refuse them all.
func LoadRoots(dir string) ([]*x509.Certificate, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read attestation roots: %w", err)
	}
	var roots []*x509.Certificate
	for _, e := range entries {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if e.IsDir() || (ext != ".pem" && ext != ".crt") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read attestation root: %w", err)
		}
		n := 0
		for {
			var block *pem.Block
			if block, b = pem.Decode(b); block == nil {
				break
			}
			if block.Type != "CERTIFICATE" {
				continue
			}
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("attestation root %s: %w", path, err)
			}
			roots = append(roots, c)
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("attestation root %s holds no PEM certificate", path)
		}
	}
	if len(roots) == 0 {
		return nil, fmt.Errorf("no attestation roots (*.pem, *.crt) in %s", dir)
	}
	return roots, nil
}

var (
	// decMode reads attestation objects strictly and within bounds:
	// duplicate map keys are an error, nesting and sizes are limited.
	decMode = mustDecMode(cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:  8,
		MaxArrayElements: 16,
		MaxMapPairs:      16,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
	})
	encMode = mustEncMode(cbor.CTAP2EncOptions())
)

func mustDecMode(o cbor.DecOptions) cbor.DecMode {
	m, err := o.DecMode()
	if err != nil {
		panic(err)
	}
	return m
}

func mustEncMode(o cbor.EncOptions) cbor.EncMode {
	m, err := o.EncMode()
	if err != nil {
		panic(err)
	}
	return m
}
