package attest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"fmt"
)

// The COSE algorithms (RFC 9053, IANA "COSE Algorithms") a statement may
// name in alg.
const (
	AlgES256 int64 = -7
	AlgES384 int64 = -35
	AlgRS256 int64 = -257
)

// hashOf returns the hash alg names.
func hashOf(alg int64) (crypto.Hash, error) {
	switch alg {
	case AlgES256, AlgRS256:
		return crypto.SHA256, nil
	case AlgES384:
		return crypto.SHA384, nil
	}
	return 0, fmt.Errorf("alg %d is not supported; use ES256 (-7), ES384 (-35) or RS256 (-257)", alg)
}

// digest hashes msg with the hash of alg.
func digest(alg int64, msg []byte) ([]byte, crypto.Hash, error) {
	h, err := hashOf(alg)
	if err != nil {
		return nil, 0, err
	}
	w := h.New()
	w.Write(msg)
	return w.Sum(nil), h, nil
}

// verifyASN1 checks an ASN.1 DER ECDSA or PKCS #1 v1.5 RSA signature sig
// by pub over msg under alg, as the packed format carries them.
func verifyASN1(pub crypto.PublicKey, alg int64, msg, sig []byte) error {
	d, h, err := digest(alg, msg)
	if err != nil {
		return err
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if alg == AlgRS256 {
			return errors.New("alg RS256 does not match the certificate's ECDSA key")
		}
		if !ecdsa.VerifyASN1(k, d, sig) {
			return errors.New("the signature does not verify with the attestation certificate's key")
		}
	case *rsa.PublicKey:
		if alg != AlgRS256 {
			return fmt.Errorf("alg %d does not match the certificate's RSA key", alg)
		}
		if rsa.VerifyPKCS1v15(k, h, d, sig) != nil {
			return errors.New("the signature does not verify with the attestation certificate's key")
		}
	default:
		return fmt.Errorf("the attestation certificate's key is a %T, not ECDSA or RSA", pub)
	}
	return nil
}
