// Package acmetest holds helpers for tests of the ACME front end: a JWS
// signer that can also produce the malformed requests a stock client never
// sends, and a small raw ACME client built on it.
package acmetest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash"
	"math/big"

	jose "github.com/go-jose/go-jose/v4"
)

// Flattened is a JWS in flattened JSON serialization.
type Flattened struct {
	Protected string `json:"protected"`
	Payload   string `json:"payload"`
	Signature string `json:"signature"`
}

// Sign signs payload with key under the protected header fields header
// (alg is added from the argument). key is a crypto.Signer for ES256,
// ES384, RS256 and EdDSA, or a []byte for HS256, HS384 and HS512.
func Sign(key any, alg string, header map[string]any, payload []byte) (*Flattened, error) {
	h := map[string]any{"alg": alg}
	for k, v := range header {
		h[k] = v
	}
	hb, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	f := &Flattened{
		Protected: b64(hb),
		Payload:   b64(payload),
	}
	sig, err := signature(key, alg, []byte(f.Protected+"."+f.Payload))
	if err != nil {
		return nil, err
	}
	f.Signature = b64(sig)
	return f, nil
}

// JSON returns f as request body bytes.
func (f *Flattened) JSON() []byte {
	b, _ := json.Marshal(f)
	return b
}

// JWK returns the public JWK of a key as JSON.
func JWK(pub crypto.PublicKey) json.RawMessage {
	b, err := (&jose.JSONWebKey{Key: pub}).MarshalJSON()
	if err != nil {
		panic(fmt.Sprintf("acmetest: marshal jwk: %v", err))
	}
	return b
}

// Thumbprint returns the RFC 7638 thumbprint of pub, base64url.
func Thumbprint(pub crypto.PublicKey) string {
	b, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		panic(fmt.Sprintf("acmetest: thumbprint: %v", err))
	}
	return b64(b)
}

// Algorithm returns the JWS algorithm for a signer's key.
func Algorithm(key crypto.Signer) string {
	switch k := key.Public().(type) {
	case *ecdsa.PublicKey:
		if k.Curve.Params().BitSize == 384 {
			return "ES384"
		}
		return "ES256"
	case *rsa.PublicKey:
		return "RS256"
	case ed25519.PublicKey:
		return "EdDSA"
	}
	return ""
}

func signature(key any, alg string, input []byte) ([]byte, error) {
	if mac, ok := key.([]byte); ok {
		var h func() hash.Hash
		switch alg {
		case "HS384":
			h = sha512.New384
		case "HS512":
			h = sha512.New
		default:
			h = sha256.New
		}
		m := hmac.New(h, mac)
		m.Write(input)
		return m.Sum(nil), nil
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("acmetest: key %T cannot sign", key)
	}
	switch k := signer.(type) {
	case *ecdsa.PrivateKey:
		var digest []byte
		if alg == "ES384" {
			d := sha512.Sum384(input)
			digest = d[:]
		} else {
			d := sha256.Sum256(input)
			digest = d[:]
		}
		r, s, err := ecdsa.Sign(rand.Reader, k, digest)
		if err != nil {
			return nil, err
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		return append(pad(r, size), pad(s, size)...), nil
	case *rsa.PrivateKey:
		d := sha256.Sum256(input)
		return rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, d[:])
	case ed25519.PrivateKey:
		return ed25519.Sign(k, input), nil
	}
	return nil, fmt.Errorf("acmetest: key type %T not supported", key)
}

func pad(n *big.Int, size int) []byte {
	b := make([]byte, size)
	return n.FillBytes(b)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
