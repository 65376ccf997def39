package local

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"math/bits"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Object identifiers of the leaf's extensions and signature (RFC 5280
// section 4.2, RFC 5758 section 3.2).
var (
	oidSubjectKeyID          = asn1.ObjectIdentifier{2, 5, 29, 14}
	oidKeyUsage              = asn1.ObjectIdentifier{2, 5, 29, 15}
	oidSubjectAltName        = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidBasicConstraints      = asn1.ObjectIdentifier{2, 5, 29, 19}
	oidCRLDistributionPoints = asn1.ObjectIdentifier{2, 5, 29, 31}
	oidAuthorityKeyID        = asn1.ObjectIdentifier{2, 5, 29, 35}
	oidExtKeyUsage           = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidAuthorityInfoAccess   = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 1}
	oidServerAuth            = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 1}
	oidCAIssuers             = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 2}
	oidECDSAWithSHA256       = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
)

// GeneralName tags (RFC 5280 section 4.2.1.6).
var (
	tagDNSName = cbasn1.Tag(2).ContextSpecific() // [2] IMPLICIT IA5String
	tagURI     = cbasn1.Tag(6).ContextSpecific() // [6] IMPLICIT IA5String
)

// The DER of an ECDSA SubjectPublicKeyInfo up to the uncompressed point, as
// crypto/x509 writes it: SEQUENCE { SEQUENCE { id-ecPublicKey, namedCurve },
// BIT STRING header with no unused bits }.
var (
	p256SPKIPrefix = []byte{
		0x30, 0x59, 0x30, 0x13,
		0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
		0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
		0x03, 0x42, 0x00,
	}
	p384SPKIPrefix = []byte{
		0x30, 0x76, 0x30, 0x10,
		0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
		0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22,
		0x03, 0x62, 0x00,
	}
)

// leaf is what differs between two leaves of the CA.
type leaf struct {
	serial              *big.Int
	notBefore, notAfter time.Time // UTC, whole seconds
	dnsNames            []string
	keyUsage            x509.KeyUsage
	pub                 crypto.PublicKey
	spki                []byte // pub as a DER SubjectPublicKeyInfo
	ski                 []byte
}

// leafParts are the DER pieces that every leaf of the CA shares, made once
// in Open so that Sign encodes only what differs. They exist only for an
// ECDSA P-256 intermediate key, the one Open makes.
type leafParts struct {
	key         *ecdsa.PrivateKey
	sigAlg      []byte // AlgorithmIdentifier ecdsa-with-SHA256
	extKeyUsage []byte // Extension: serverAuth only
	basic       []byte // Extension: critical, CA:false
	authKeyID   []byte // Extension: the intermediate's key identifier; nil if it has none
	aia         []byte // Extension: caIssuers; nil without a base URL
	crlDP       []byte // Extension: the CRL URL; nil without a base URL
}

// newLeafParts returns the shared pieces of the leaves s signs, or nil
// when the intermediate key is not ECDSA P-256 and crypto/x509 must sign.
func (c *CA) newLeafParts(s *signing) (*leafParts, error) {
	key, ok := s.key.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, nil
	}
	var errs []error
	der := func(add cryptobyte.BuilderContinuation) []byte {
		var b cryptobyte.Builder
		add(&b)
		out, err := b.Bytes()
		errs = append(errs, err)
		return out
	}
	p := &leafParts{key: key}
	p.sigAlg = der(func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidECDSAWithSHA256) })
	})
	p.extKeyUsage = der(func(b *cryptobyte.Builder) {
		addExtension(b, oidExtKeyUsage, false, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidServerAuth) })
		})
	})
	p.basic = der(func(b *cryptobyte.Builder) {
		// CA:false is the DEFAULT, so DER leaves it out.
		addExtension(b, oidBasicConstraints, true, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(*cryptobyte.Builder) {})
		})
	})
	// crypto/x509 names the issuer's key only when the issuer has a key
	// identifier; the intermediates Open makes always do.
	if id := s.inter.SubjectKeyId; len(id) > 0 {
		p.authKeyID = der(func(b *cryptobyte.Builder) {
			addExtension(b, oidAuthorityKeyID, false, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.Tag(0).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(id) })
				})
			})
		})
	}
	if c.crlURL != "" {
		p.aia = der(func(b *cryptobyte.Builder) {
			addExtension(b, oidAuthorityInfoAccess, false, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1ObjectIdentifier(oidCAIssuers)
						b.AddASN1(tagURI, func(b *cryptobyte.Builder) { b.AddBytes([]byte(c.aiaURL)) })
					})
				})
			})
		})
		p.crlDP = der(func(b *cryptobyte.Builder) {
			addExtension(b, oidCRLDistributionPoints, false, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // DistributionPoint
						b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) { // distributionPoint
							b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) { // fullName
								b.AddASN1(tagURI, func(b *cryptobyte.Builder) { b.AddBytes([]byte(c.crlURL)) })
							})
						})
					})
				})
			})
		})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// signLeaf returns the DER certificate for l, signed by s.
func (c *CA) signLeaf(s *signing, l *leaf) ([]byte, error) {
	if s.parts == nil {
		return x509.CreateCertificate(rand.Reader, c.leafTemplate(l), s.inter, l.pub, s.key)
	}
	tbs, err := leafTBS(s, l)
	if err != nil {
		return nil, fmt.Errorf("encode certificate: %w", err)
	}
	// crypto/x509 would verify the signature it just made, against faulty
	// signers (hardware, remote); an in-memory ECDSA key is not one, and the
	// check costs more than the signature.
	digest := sha256.Sum256(tbs)
	sig, err := ecdsa.SignASN1(rand.Reader, s.parts.key, digest[:])
	if err != nil {
		return nil, fmt.Errorf("sign certificate: %w", err)
	}
	b := cryptobyte.NewBuilder(make([]byte, 0, len(tbs)+len(sig)+32))
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(tbs)
		b.AddBytes(s.parts.sigAlg)
		b.AddASN1BitString(sig)
	})
	return b.Bytes()
}

// leafTBS encodes l as a TBSCertificate (RFC 5280 section 4.1), exactly as
// x509.CreateCertificate encodes c.leafTemplate(l) signed by s: the same
// fields and extensions, in the same order.
func leafTBS(s *signing, l *leaf) ([]byte, error) {
	p := s.parts
	b := cryptobyte.NewBuilder(make([]byte, 0, 1024))
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1Int64(2) // v3
		})
		b.AddASN1BigInt(l.serial)
		b.AddBytes(p.sigAlg)
		b.AddBytes(s.inter.RawSubject)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			addTime(b, l.notBefore)
			addTime(b, l.notAfter)
		})
		b.AddASN1(cbasn1.SEQUENCE, func(*cryptobyte.Builder) {}) // empty subject
		b.AddBytes(l.spki)
		b.AddASN1(cbasn1.Tag(3).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				addExtension(b, oidKeyUsage, true, func(b *cryptobyte.Builder) { addKeyUsage(b, l.keyUsage) })
				b.AddBytes(p.extKeyUsage)
				b.AddBytes(p.basic)
				addExtension(b, oidSubjectKeyID, false, func(b *cryptobyte.Builder) { b.AddASN1OctetString(l.ski) })
				b.AddBytes(p.authKeyID)
				b.AddBytes(p.aia)
				// RFC 5280 section 4.2.1.6: critical, as the subject is empty.
				addExtension(b, oidSubjectAltName, true, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						for _, n := range l.dnsNames {
							b.AddASN1(tagDNSName, func(b *cryptobyte.Builder) { b.AddBytes([]byte(n)) })
						}
					})
				})
				b.AddBytes(p.crlDP)
			})
		})
	})
	return b.Bytes()
}

// leafTemplate is l as a crypto/x509 template: what signLeaf gives
// x509.CreateCertificate when the intermediate key is not ECDSA P-256.
func (c *CA) leafTemplate(l *leaf) *x509.Certificate {
	tmpl := &x509.Certificate{
		SerialNumber:          l.serial,
		NotBefore:             l.notBefore,
		NotAfter:              l.notAfter,
		DNSNames:              l.dnsNames,
		KeyUsage:              l.keyUsage,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		SubjectKeyId:          l.ski,
	}
	if c.crlURL != "" {
		tmpl.CRLDistributionPoints = []string{c.crlURL}
		tmpl.IssuingCertificateURL = []string{c.aiaURL}
	}
	return tmpl
}

// csrSPKI returns the DER SubjectPublicKeyInfo of the CSR's key as
// crypto/x509 encodes it. For an ECDSA key that is the CSR's own encoding,
// which a comparison with the fixed prefix shows to be the same; RSA keys,
// whose encoding takes more to check, and encodings with bytes the CSR
// parser skipped are encoded afresh.
func csrSPKI(csr *x509.CertificateRequest) ([]byte, error) {
	raw := csr.RawSubjectPublicKeyInfo
	if k, ok := csr.PublicKey.(*ecdsa.PublicKey); ok {
		var prefix []byte
		switch k.Curve {
		case elliptic.P256():
			prefix = p256SPKIPrefix
		case elliptic.P384():
			prefix = p384SPKIPrefix
		}
		coordLen := (k.Curve.Params().BitSize + 7) / 8
		if prefix != nil && len(raw) == len(prefix)+1+2*coordLen && bytes.HasPrefix(raw, prefix) {
			return raw, nil
		}
	}
	spki, err := x509.MarshalPKIXPublicKey(csr.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("encode public key: %w", err)
	}
	return spki, nil
}

// keyID is the leftmost 160 bits of the SHA-256 of the subjectPublicKey bit
// string of spki, a DER SubjectPublicKeyInfo (RFC 7093 section 2, method 1).
func keyID(spki []byte) ([]byte, error) {
	s := cryptobyte.String(spki)
	var key asn1.BitString
	if !s.ReadASN1(&s, cbasn1.SEQUENCE) || !s.SkipASN1(cbasn1.SEQUENCE) || !s.ReadASN1BitString(&key) {
		return nil, errors.New("subject key identifier: malformed public key")
	}
	sum := sha256.Sum256(key.Bytes)
	return sum[:20], nil
}

// addExtension adds an Extension (RFC 5280 section 4.1) whose extnValue
// holds what value writes. DER leaves out critical when it is false.
func addExtension(b *cryptobyte.Builder, oid asn1.ObjectIdentifier, critical bool, value cryptobyte.BuilderContinuation) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		if critical {
			b.AddASN1Boolean(true)
		}
		b.AddASN1(cbasn1.OCTET_STRING, value)
	})
}

// addKeyUsage adds the KeyUsage BIT STRING (RFC 5280 section 4.2.1.3) for
// ku, which is not 0. x509.KeyUsage numbers bits from the least
// significant; the BIT STRING from the most significant, with trailing
// zero bits left out as DER asks for a named bit list.
func addKeyUsage(b *cryptobyte.Builder, ku x509.KeyUsage) {
	octets := []byte{bits.Reverse8(byte(ku)), bits.Reverse8(byte(ku >> 8))}
	if octets[1] == 0 {
		octets = octets[:1]
	}
	b.AddASN1(cbasn1.BIT_STRING, func(b *cryptobyte.Builder) {
		b.AddUint8(uint8(bits.TrailingZeros8(octets[len(octets)-1]))) // unused bits
		b.AddBytes(octets)
	})
}

// addTime adds t as RFC 5280 section 4.1.2.5 asks: UTCTime for the years
// 1950 to 2049, GeneralizedTime otherwise. t is in UTC.
func addTime(b *cryptobyte.Builder, t time.Time) {
	if y := t.Year(); y >= 1950 && y < 2050 {
		b.AddASN1UTCTime(t)
	} else {
		b.AddASN1GeneralizedTime(t)
	}
}
