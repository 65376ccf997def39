package agent

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"strings"
	"sync"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/lantls/lantls/attest"
)

// TPMConfig configures a TPM 2.0 attester.
type TPMConfig struct {
	// AKChain is the certificate chain (DER, leaf first) of the TPM's
	// attestation key, which the maker's attestation CA issued for the key
	// TPMAttestationKey returns. The leaf carries the extended key usage
	// tcg-kp-AIKCertificate and the device's identifier as a
	// PermanentIdentifier or HardwareModuleName subjectAltName.
	AKChain [][]byte
	// IdentifierType and Identifier are what the attestation proves, as
	// in Attester.Identifier; the type defaults to permanent-identifier.
	IdentifierType string
	Identifier     string
}

// TPMAttester is an Attester backed by a TPM 2.0: the certificate key and
// the attestation key are ECDSA P-256 primary keys the TPM derives from
// its hierarchy seeds (the owner's and the endorsement's), so they are the
// same after a restart without anything stored, and change only when the
// TPM is cleared. It makes "tpm" statements (WebAuthn section 8.3).
type TPMAttester struct {
	cfg TPMConfig
	mu  sync.Mutex // the TPM answers one command at a time
	tpm transport.TPM
	ak  *tpmKey
	key *tpmKey
}

// tpmKey is a loaded primary key.
type tpmKey struct {
	handle tpm2.TPMHandle
	name   tpm2.TPM2BName
	public []byte // the TPMT_PUBLIC, marshaled
	pub    *ecdsa.PublicKey
}

// OpenTPM opens the TPM at path: a character device (/dev/tpmrm0, the
// kernel's resource manager, is the one to use) or "unix:PATH", the socket
// of `swtpm socket --server type=unixio,path=PATH`.
func OpenTPM(path string) (transport.TPMCloser, error) {
	if p, ok := strings.CutPrefix(path, "unix:"); ok {
		c, err := net.Dial("unix", p)
		if err != nil {
			return nil, fmt.Errorf("open TPM: %w", err)
		}
		return transport.FromReadWriteCloser(c), nil
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open TPM: %w", err)
	}
	return transport.FromReadWriteCloser(f), nil
}

// TPMAttestationKey returns the public attestation key of tpm, for the
// maker's attestation CA to certify (TPMConfig.AKChain).
func TPMAttestationKey(tpm transport.TPM) (crypto.PublicKey, error) {
	k, err := createPrimary(tpm, tpm2.TPMRHEndorsement, akTemplate())
	if err != nil {
		return nil, fmt.Errorf("attestation key: %w", err)
	}
	defer flush(tpm, k)
	return k.pub, nil
}

// NewTPMAttester loads the attestation and certificate keys of tpm. Close
// unloads them; tpm stays the caller's.
func NewTPMAttester(tpm transport.TPM, cfg TPMConfig) (*TPMAttester, error) {
	if len(cfg.AKChain) == 0 {
		return nil, errors.New("TPM attester: no attestation key certificate (AKChain)")
	}
	if cfg.IdentifierType == "" {
		cfg.IdentifierType = attest.PermanentIdentifier
	}
	if err := attest.ValidIdentifier(cfg.IdentifierType, cfg.Identifier); err != nil {
		return nil, fmt.Errorf("TPM attester: %w", err)
	}
	leaf, err := x509.ParseCertificate(cfg.AKChain[0])
	if err != nil {
		return nil, fmt.Errorf("TPM attester: attestation key certificate: %w", err)
	}
	ak, err := createPrimary(tpm, tpm2.TPMRHEndorsement, akTemplate())
	if err != nil {
		return nil, fmt.Errorf("TPM attester: attestation key: %w", err)
	}
	if !ak.pub.Equal(leaf.PublicKey) {
		flush(tpm, ak)
		return nil, errors.New("TPM attester: the attestation key certificate is for another key than this TPM's")
	}
	key, err := createPrimary(tpm, tpm2.TPMRHOwner, keyTemplate())
	if err != nil {
		flush(tpm, ak)
		return nil, fmt.Errorf("TPM attester: certificate key: %w", err)
	}
	return &TPMAttester{cfg: cfg, tpm: tpm, ak: ak, key: key}, nil
}

// Close unloads the keys from the TPM.
func (t *TPMAttester) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return errors.Join(flush(t.tpm, t.key), flush(t.tpm, t.ak))
}

// Identifier is the identifier the attestation key's certificate carries.
func (t *TPMAttester) Identifier() (string, string) { return t.cfg.IdentifierType, t.cfg.Identifier }

// Key returns the certificate key, which signs inside the TPM.
func (t *TPMAttester) Key(context.Context) (crypto.Signer, error) { return tpmSigner{t}, nil }

// Attest certifies the certificate key with the attestation key, the hash
// of keyAuthorization as qualifying data (draft section 5: the key
// authorization is attToBeSigned).
func (t *TPMAttester) Attest(_ context.Context, keyAuthorization string) ([]byte, error) {
	extra := sha256.Sum256([]byte(keyAuthorization))
	t.mu.Lock()
	rsp, err := tpm2.Certify{
		ObjectHandle:   tpm2.AuthHandle{Handle: t.key.handle, Name: t.key.name, Auth: tpm2.PasswordAuth(nil)},
		SignHandle:     tpm2.AuthHandle{Handle: t.ak.handle, Name: t.ak.name, Auth: tpm2.PasswordAuth(nil)},
		QualifyingData: tpm2.TPM2BData{Buffer: extra[:]},
		InScheme: tpm2.TPMTSigScheme{
			Scheme:  tpm2.TPMAlgECDSA,
			Details: tpm2.NewTPMUSigScheme(tpm2.TPMAlgECDSA, &tpm2.TPMSSchemeHash{HashAlg: tpm2.TPMAlgSHA256}),
		},
	}.Execute(t.tpm)
	t.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("TPM certify: %w", err)
	}
	return attest.Marshal(attest.FormatTPM, attest.TPMStatement{
		Ver:      "2.0",
		Alg:      attest.AlgES256,
		X5C:      t.cfg.AKChain,
		Sig:      tpm2.Marshal(rsp.Signature),
		CertInfo: rsp.CertifyInfo.Bytes(),
		PubArea:  t.key.public,
	})
}

// tpmSigner signs with the certificate key inside the TPM.
type tpmSigner struct{ t *TPMAttester }

func (s tpmSigner) Public() crypto.PublicKey { return s.t.key.pub }

// Sign signs a SHA-256 digest; the key's scheme is ECDSA with SHA-256,
// which is what TLS asks of a P-256 key.
func (s tpmSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts.HashFunc() != crypto.SHA256 || len(digest) != sha256.Size {
		return nil, fmt.Errorf("TPM key signs SHA-256 digests only, not %v", opts.HashFunc())
	}
	t := s.t
	t.mu.Lock()
	rsp, err := tpm2.Sign{
		KeyHandle:  tpm2.AuthHandle{Handle: t.key.handle, Name: t.key.name, Auth: tpm2.PasswordAuth(nil)},
		Digest:     tpm2.TPM2BDigest{Buffer: digest},
		InScheme:   tpm2.TPMTSigScheme{Scheme: tpm2.TPMAlgNull},
		Validation: tpm2.TPMTTKHashCheck{Tag: tpm2.TPMSTHashCheck, Hierarchy: tpm2.TPMRHNull},
	}.Execute(t.tpm)
	t.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("TPM sign: %w", err)
	}
	e, err := rsp.Signature.Signature.ECDSA()
	if err != nil {
		return nil, fmt.Errorf("TPM sign: %w", err)
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1BigInt(new(big.Int).SetBytes(e.SignatureR.Buffer))
		b.AddASN1BigInt(new(big.Int).SetBytes(e.SignatureS.Buffer))
	})
	return b.Bytes()
}

// akTemplate is a restricted ECDSA P-256 signing key: it signs only what
// the TPM made (certifications, quotes), never an outside digest posing as
// one.
func akTemplate() tpm2.TPMTPublic {
	return eccTemplate(true)
}

// keyTemplate is an unrestricted ECDSA P-256 signing key for TLS.
func keyTemplate() tpm2.TPMTPublic {
	return eccTemplate(false)
}

func eccTemplate(restricted bool) tpm2.TPMTPublic {
	return tpm2.TPMTPublic{
		Type:    tpm2.TPMAlgECC,
		NameAlg: tpm2.TPMAlgSHA256,
		ObjectAttributes: tpm2.TPMAObject{
			FixedTPM: true, FixedParent: true, SensitiveDataOrigin: true,
			UserWithAuth: true, NoDA: true, SignEncrypt: true, Restricted: restricted,
		},
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgECC, &tpm2.TPMSECCParms{
			CurveID: tpm2.TPMECCNistP256,
			Scheme: tpm2.TPMTECCScheme{
				Scheme:  tpm2.TPMAlgECDSA,
				Details: tpm2.NewTPMUAsymScheme(tpm2.TPMAlgECDSA, &tpm2.TPMSSigSchemeECDSA{HashAlg: tpm2.TPMAlgSHA256}),
			},
		}),
		Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{
			// Distinct unique values keep the two keys apart should both
			// ever be made in one hierarchy.
			X: tpm2.TPM2BECCParameter{Buffer: []byte(fmt.Sprintf("lantls restricted=%t", restricted))},
		}),
	}
}

// createPrimary makes (derives) the primary key of template in hierarchy.
func createPrimary(tpm transport.TPM, hierarchy tpm2.TPMHandle, template tpm2.TPMTPublic) (*tpmKey, error) {
	rsp, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.AuthHandle{Handle: hierarchy, Auth: tpm2.PasswordAuth(nil)},
		InPublic:      tpm2.New2B(template),
	}.Execute(tpm)
	if err != nil {
		return nil, err
	}
	k := &tpmKey{handle: rsp.ObjectHandle, name: rsp.Name, public: rsp.OutPublic.Bytes()}
	pub, err := rsp.OutPublic.Contents()
	if err == nil {
		var key crypto.PublicKey
		if key, err = tpm2.Pub(*pub); err == nil {
			var ok bool
			if k.pub, ok = key.(*ecdsa.PublicKey); !ok {
				err = fmt.Errorf("key is a %T", key)
			}
		}
	}
	if err != nil {
		flush(tpm, k)
		return nil, err
	}
	return k, nil
}

// flush unloads k.
func flush(tpm transport.TPM, k *tpmKey) error {
	_, err := tpm2.FlushContext{FlushHandle: k.handle}.Execute(tpm)
	return err
}
