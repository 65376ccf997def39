package bench

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"fmt"
	"net"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Object identifiers of a PKCS #10 request with a subjectAltName.
var (
	oidExtensionRequest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 14}
	oidSubjectAltName   = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidECDSAWithSHA256  = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
)

// p256SPKIPrefix is the DER of a P-256 SubjectPublicKeyInfo up to the
// uncompressed point: SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 },
// BIT STRING (66 bytes, no unused bits) }.
var p256SPKIPrefix = []byte{
	0x30, 0x59, 0x30, 0x13,
	0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
	0x03, 0x42, 0x00,
}

// p256SPKI returns the DER SubjectPublicKeyInfo of a P-256 key, as
// x509.MarshalPKIXPublicKey does, from the coordinates GenerateKey made
// (it does not check again that they are on the curve).
func p256SPKI(key *ecdsa.PrivateKey) []byte {
	spki := make([]byte, len(p256SPKIPrefix)+65)
	n := copy(spki, p256SPKIPrefix)
	p256Point(spki[n:], key)
	return spki
}

// p256Point writes the uncompressed point of key, 0x04 || X || Y, into
// the 65 bytes of dst.
func p256Point(dst []byte, key *ecdsa.PrivateKey) {
	dst[0] = 4
	key.X.FillBytes(dst[1:33])
	key.Y.FillBytes(dst[33:65])
}

// newCSR returns a DER PKCS #10 request (RFC 2986) for names, with an empty
// subject and the names in a subjectAltName extension, signed by a new
// P-256 key. It is encoded here rather than with
// x509.CreateCertificateRequest, which verifies its own signature: an
// extra ECDSA verification per issuance that the load client would take
// from the server under test.
func newCSR(names []string) ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	spki := p256SPKI(key)
	var san cryptobyte.Builder
	san.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, n := range names {
			if ip := net.ParseIP(n); ip != nil {
				if v4 := ip.To4(); v4 != nil {
					ip = v4
				}
				b.AddASN1(cbasn1.Tag(7).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(ip) })
			} else {
				b.AddASN1(cbasn1.Tag(2).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes([]byte(n)) })
			}
		}
	})
	sanDER, err := san.Bytes()
	if err != nil {
		return nil, fmt.Errorf("make CSR: %w", err)
	}
	var info cryptobyte.Builder
	info.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(0)                                        // version
		b.AddASN1(cbasn1.SEQUENCE, func(*cryptobyte.Builder) {}) // empty subject
		b.AddBytes(spki)
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidExtensionRequest)
				b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // Extensions
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddASN1ObjectIdentifier(oidSubjectAltName)
							b.AddASN1OctetString(sanDER)
						})
					})
				})
			})
		})
	})
	infoDER, err := info.Bytes()
	if err != nil {
		return nil, fmt.Errorf("make CSR: %w", err)
	}
	digest := sha256.Sum256(infoDER)
	sig, err := signP256(key, digest[:])
	if err != nil {
		return nil, fmt.Errorf("make CSR: %w", err)
	}
	var csr cryptobyte.Builder
	csr.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(infoDER)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidECDSAWithSHA256) })
		b.AddASN1BitString(sig)
	})
	return csr.Bytes()
}
