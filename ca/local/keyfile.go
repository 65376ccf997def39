package local

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/lantls/lantls/internal/atomicfile"
)

// PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC (RFC 8018 sections 6.2
// and A.2, RFC 5958 section 3), the encrypted PKCS#8 that `openssl pkcs8
// -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256` writes.
var (
	oidPBES2          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2         = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidHMACWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidAES256CBC      = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
)

// rootKeyIterations is the PBKDF2 iteration count of a new encrypted root
// key: OWASP's 2023 figure for PBKDF2-HMAC-SHA256. The key is read once per
// intermediate, so its cost (about a third of a second) is no burden.
const rootKeyIterations = 600_000

// maxIterations bounds what ReadRootKey accepts, so a crafted file cannot
// keep it busy for hours.
const maxIterations = 10_000_000

type encryptedPrivateKeyInfo struct {
	Algorithm     pkix.AlgorithmIdentifier
	EncryptedData []byte
}

type pbes2Params struct {
	KeyDerivationFunc pkix.AlgorithmIdentifier
	EncryptionScheme  pkix.AlgorithmIdentifier
}

type pbkdf2Params struct {
	Salt       []byte
	Iterations int
	KeyLength  int                      `asn1:"optional"`
	PRF        pkix.AlgorithmIdentifier `asn1:"optional"`
}

// ErrPassphrase is ReadRootKey's answer for an encrypted key file and a
// passphrase that does not open it (or none).
var ErrPassphrase = errors.New("the passphrase does not decrypt the key")

// writeRootKey writes key to path, encrypted when passphrase is not empty.
func writeRootKey(path string, key crypto.Signer, passphrase []byte) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("marshal root key: %w", err)
	}
	block := &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	if len(passphrase) > 0 {
		if block, err = encryptPKCS8(der, passphrase, rootKeyIterations); err != nil {
			return fmt.Errorf("encrypt root key: %w", err)
		}
	}
	return atomicfile.Write(path, pem.EncodeToMemory(block), 0o600)
}

// IsEncrypted reports whether the PEM key in b is encrypted PKCS#8.
func IsEncrypted(b []byte) bool {
	block, _ := pem.Decode(b)
	return block != nil && block.Type == "ENCRYPTED PRIVATE KEY"
}

// ReadRootKey reads a root key that Init wrote: PKCS#8 PEM, encrypted
// with passphrase when its PEM type says ENCRYPTED PRIVATE KEY.
func ReadRootKey(path string, passphrase []byte) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, rest := pem.Decode(b)
	if block == nil || len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("parse %s: want one PEM block", path)
	}
	der := block.Bytes
	switch block.Type {
	case "PRIVATE KEY":
	case "ENCRYPTED PRIVATE KEY":
		if der, err = decryptPKCS8(der, passphrase); err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
	default:
		return nil, fmt.Errorf("parse %s: PEM block of type %s, want PRIVATE KEY or ENCRYPTED PRIVATE KEY", path, block.Type)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("parse %s: %T cannot sign", path, k)
	}
	return signer, nil
}

func encryptPKCS8(der, passphrase []byte, iterations int) (*pem.Block, error) {
	salt := make([]byte, 16)
	iv := make([]byte, aes.BlockSize)
	rand.Read(salt)
	rand.Read(iv)
	key, err := pbkdf2.Key(sha256.New, string(passphrase), salt, iterations, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	pad := aes.BlockSize - len(der)%aes.BlockSize
	data := append(bytes.Clone(der), bytes.Repeat([]byte{byte(pad)}, pad)...)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(data, data)

	kdf, err := asn1.Marshal(pbkdf2Params{Salt: salt, Iterations: iterations,
		PRF: pkix.AlgorithmIdentifier{Algorithm: oidHMACWithSHA256, Parameters: asn1.NullRawValue}})
	if err != nil {
		return nil, err
	}
	ivDER, err := asn1.Marshal(iv)
	if err != nil {
		return nil, err
	}
	params, err := asn1.Marshal(pbes2Params{
		KeyDerivationFunc: pkix.AlgorithmIdentifier{Algorithm: oidPBKDF2, Parameters: asn1.RawValue{FullBytes: kdf}},
		EncryptionScheme:  pkix.AlgorithmIdentifier{Algorithm: oidAES256CBC, Parameters: asn1.RawValue{FullBytes: ivDER}},
	})
	if err != nil {
		return nil, err
	}
	out, err := asn1.Marshal(encryptedPrivateKeyInfo{
		Algorithm:     pkix.AlgorithmIdentifier{Algorithm: oidPBES2, Parameters: asn1.RawValue{FullBytes: params}},
		EncryptedData: data,
	})
	if err != nil {
		return nil, err
	}
	return &pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: out}, nil
}

// decryptPKCS8 opens what encryptPKCS8 (or openssl with the same
// algorithms) wrote.
func decryptPKCS8(der, passphrase []byte) ([]byte, error) {
	var info encryptedPrivateKeyInfo
	if rest, err := asn1.Unmarshal(der, &info); err != nil || len(rest) != 0 {
		return nil, errors.New("not an encrypted PKCS#8 key")
	}
	if !info.Algorithm.Algorithm.Equal(oidPBES2) {
		return nil, fmt.Errorf("key encrypted with %v, want PBES2", info.Algorithm.Algorithm)
	}
	var params pbes2Params
	if rest, err := asn1.Unmarshal(info.Algorithm.Parameters.FullBytes, &params); err != nil || len(rest) != 0 {
		return nil, errors.New("bad PBES2 parameters")
	}
	if !params.KeyDerivationFunc.Algorithm.Equal(oidPBKDF2) || !params.EncryptionScheme.Algorithm.Equal(oidAES256CBC) {
		return nil, errors.New("key encrypted with other algorithms than PBKDF2 and AES-256-CBC")
	}
	var kdf pbkdf2Params
	if rest, err := asn1.Unmarshal(params.KeyDerivationFunc.Parameters.FullBytes, &kdf); err != nil || len(rest) != 0 {
		return nil, errors.New("bad PBKDF2 parameters")
	}
	if !kdf.PRF.Algorithm.Equal(oidHMACWithSHA256) {
		return nil, errors.New("PBKDF2 with another hash than SHA-256")
	}
	if kdf.Iterations < 1 || kdf.Iterations > maxIterations || (kdf.KeyLength != 0 && kdf.KeyLength != 32) {
		return nil, errors.New("bad PBKDF2 iteration count or key length")
	}
	var iv []byte
	if rest, err := asn1.Unmarshal(params.EncryptionScheme.Parameters.FullBytes, &iv); err != nil || len(rest) != 0 || len(iv) != aes.BlockSize {
		return nil, errors.New("bad AES-256-CBC IV")
	}
	data := info.EncryptedData
	if len(data) == 0 || len(data)%aes.BlockSize != 0 {
		return nil, errors.New("encrypted key is not whole AES blocks")
	}
	if len(passphrase) == 0 {
		return nil, ErrPassphrase
	}
	key, err := pbkdf2.Key(sha256.New, string(passphrase), kdf.Salt, kdf.Iterations, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	plain := make([]byte, len(data))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, data)
	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > aes.BlockSize || !bytes.Equal(plain[len(plain)-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
		return nil, ErrPassphrase
	}
	plain = plain[:len(plain)-pad]
	if _, err := x509.ParsePKCS8PrivateKey(plain); err != nil {
		return nil, ErrPassphrase
	}
	return plain, nil
}
