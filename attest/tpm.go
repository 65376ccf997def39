package attest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"slices"

	"github.com/google/go-tpm/tpm2"
)

// oidAIKCertificate is tcg-kp-AIKCertificate, the extended key usage a TPM
// attestation key's certificate must carry (WebAuthn section 8.3.1).
var oidAIKCertificate = asn1.ObjectIdentifier{2, 23, 133, 8, 3}

// verifyTPM verifies a "tpm" statement (WebAuthn section 8.3.2) with the
// key authorization as attToBeSigned (draft section 5).
func (v *Verifier) verifyTPM(raw []byte, keyAuth []byte) (*Result, error) {
	var st TPMStatement
	if err := decMode.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("attStmt is not the map of WebAuthn section 8.3: %v", err)
	}
	if st.Ver != "2.0" {
		return nil, fmt.Errorf("ver is %q, want \"2.0\"", st.Ver)
	}
	pub, err := unmarshalTPM[tpm2.TPMTPublic]("pubArea", st.PubArea)
	if err != nil {
		return nil, err
	}
	key, err := attestedKey(pub)
	if err != nil {
		return nil, err
	}
	info, err := unmarshalTPM[tpm2.TPMSAttest]("certInfo", st.CertInfo)
	if err != nil {
		return nil, err
	}
	if err := checkCertify(info, pub, st.Alg, keyAuth); err != nil {
		return nil, err
	}
	leaf, root, err := v.chain(st.X5C)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(leaf.UnknownExtKeyUsage, oidAIKCertificate.Equal) {
		return nil, errors.New("the attestation key's certificate lacks the tcg-kp-AIKCertificate (2.23.133.8.3) extended key usage")
	}
	if err := verifyTPMSignature(leaf.PublicKey, st.Alg, st.CertInfo, st.Sig); err != nil {
		return nil, err
	}
	return newResult(leaf, root, key)
}

// unmarshalTPM decodes the whole of b as a T.
func unmarshalTPM[T tpm2.Marshallable, P interface {
	*T
	tpm2.Unmarshallable
}](field string, b []byte) (*T, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%s is missing", field)
	}
	v, whole, err := unmarshalSafe[T, P](b)
	if err != nil {
		return nil, fmt.Errorf("%s is not a TPM 2.0 structure: %v", field, err)
	}
	if !whole {
		return nil, fmt.Errorf("%s has bytes after its TPM 2.0 structure", field)
	}
	return v, nil
}

// unmarshalSafe is tpm2.Unmarshal, with a panic on hostile input turned
// into an error; whole reports whether v encodes back to all of b.
func unmarshalSafe[T tpm2.Marshallable, P interface {
	*T
	tpm2.Unmarshallable
}](b []byte) (v *T, whole bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, whole, err = nil, false, fmt.Errorf("undecodable: %v", r)
		}
	}()
	if v, err = tpm2.Unmarshal[T, P](b); err != nil {
		return nil, false, err
	}
	return v, bytes.Equal(tpm2.Marshal(*v), b), nil
}

// attestedKey returns the public key of pubArea, which must be a signing
// key that the TPM made and that can never leave it.
func attestedKey(pub *tpm2.TPMTPublic) (any, error) {
	a := pub.ObjectAttributes
	switch {
	case !a.FixedTPM || !a.FixedParent:
		return nil, errors.New("the attested key may leave the TPM (fixedTPM or fixedParent is clear)")
	case !a.SensitiveDataOrigin:
		return nil, errors.New("the attested key was not made inside the TPM (sensitiveDataOrigin is clear)")
	case !a.SignEncrypt || a.Restricted:
		return nil, errors.New("the attested key is not an unrestricted signing key")
	}
	key, err := pubKey(pub)
	if err != nil {
		return nil, fmt.Errorf("pubArea: %v", err)
	}
	return key, nil
}

// pubKey converts pubArea's key, recovering from what hostile input may do
// to the library.
func pubKey(pub *tpm2.TPMTPublic) (key any, err error) {
	defer func() {
		if r := recover(); r != nil {
			key, err = nil, fmt.Errorf("undecodable key: %v", r)
		}
	}()
	if key, err = tpm2.Pub(*pub); err != nil {
		return nil, err
	}
	// A round trip through crypto/x509 checks the key as any certificate's
	// (an ECC point on its curve, for one).
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		return nil, err
	}
	return x509.ParsePKIXPublicKey(der)
}

// checkCertify checks that certInfo is a TPM-made certification of pubArea
// whose extraData is the hash of the key authorization.
func checkCertify(info *tpm2.TPMSAttest, pub *tpm2.TPMTPublic, alg int64, keyAuth []byte) error {
	if info.Magic != tpm2.TPMGeneratedValue {
		return errors.New("certInfo was not made by a TPM (magic is not TPM_GENERATED_VALUE)")
	}
	if info.Type != tpm2.TPMSTAttestCertify {
		return fmt.Errorf("certInfo is of type %#x, not TPM_ST_ATTEST_CERTIFY", uint16(info.Type))
	}
	want, _, err := digest(alg, keyAuth)
	if err != nil {
		return err
	}
	if !bytes.Equal(info.ExtraData.Buffer, want) {
		return errors.New("certInfo's extraData is not the hash of this challenge's key authorization (a statement made for another challenge or account)")
	}
	certify, err := info.Attested.Certify()
	if err != nil {
		return fmt.Errorf("certInfo: %v", err)
	}
	name, err := objectName(pub)
	if err != nil {
		return fmt.Errorf("pubArea: %v", err)
	}
	if !bytes.Equal(certify.Name.Buffer, name) {
		return errors.New("certInfo certifies another key than pubArea")
	}
	return nil
}

// objectName is the TPM Name of pub, recovering from hostile input.
func objectName(pub *tpm2.TPMTPublic) (name []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			name, err = nil, fmt.Errorf("no name: %v", r)
		}
	}()
	n, err := tpm2.ObjectName(pub)
	if err != nil {
		return nil, err
	}
	return n.Buffer, nil
}

// verifyTPMSignature checks the TPMT_SIGNATURE sig by the attestation key
// over certInfo.
func verifyTPMSignature(pub any, alg int64, certInfo, sig []byte) error {
	s, err := unmarshalTPM[tpm2.TPMTSignature]("sig", sig)
	if err != nil {
		return err
	}
	d, h, err := digest(alg, certInfo)
	if err != nil {
		return err
	}
	bad := errors.New("sig does not verify with the attestation key's certificate")
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		e, err := s.Signature.ECDSA()
		if err != nil || s.SigAlg != tpm2.TPMAlgECDSA || alg == AlgRS256 {
			return fmt.Errorf("sig is not an ECDSA signature for alg %d", alg)
		}
		r, ss := new(big.Int).SetBytes(e.SignatureR.Buffer), new(big.Int).SetBytes(e.SignatureS.Buffer)
		if !ecdsa.Verify(k, d, r, ss) {
			return bad
		}
	case *rsa.PublicKey:
		r, err := s.Signature.RSASSA()
		if err != nil || s.SigAlg != tpm2.TPMAlgRSASSA || alg != AlgRS256 {
			return fmt.Errorf("sig is not an RSASSA signature for alg %d", alg)
		}
		if rsa.VerifyPKCS1v15(k, h, d, r.Sig.Buffer) != nil {
			return bad
		}
	default:
		return fmt.Errorf("the attestation key's certificate holds a %T, not ECDSA or RSA", pub)
	}
	return nil
}

// newResult is the result of a statement whose chain and signature
// verified.
func newResult(leaf, root *x509.Certificate, key any) (*Result, error) {
	perm, hw, err := identifiers(leaf)
	if err != nil {
		return nil, err
	}
	return &Result{Key: key, Leaf: leaf, Root: root, PermanentIdentifiers: perm, HardwareModules: hw}, nil
}
