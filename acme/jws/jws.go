// Package jws parses and verifies the JSON Web Signatures that carry every
// ACME request (RFC 8555 section 6.2), and the external account bindings
// (section 7.3.4) inside newAccount requests. It checks form, algorithm and
// key; the ACME front end checks nonce, url and account.
//
// Only the flattened JSON serialization with a single signature and no
// unprotected header is accepted. Errors are *problem.Error values with the
// ACME type a client should see.
package jws

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/lantls/lantls/problem"
)

// JWS signature algorithms accepted for account keys. Which keys are
// acceptable at all is package keypolicy's rule; certificate keys are not
// JWS keys and follow only that.
const (
	ES256 = "ES256"
	ES384 = "ES384"
	RS256 = "RS256"
	EdDSA = "EdDSA"
)

// Algorithms lists the accepted signature algorithms, as sent in the
// algorithms field of a badSignatureAlgorithm problem.
func Algorithms() []string { return []string{ES256, ES384, RS256, EdDSA} }

// Message is a parsed flattened JWS whose signature has not been checked yet.
// Exactly one of KeyID and Key is set.
type Message struct {
	Algorithm string           // the alg header, one of Algorithms
	KeyID     string           // the kid header: an account URL
	Key       *jose.JSONWebKey // the jwk header: a public key
	Nonce     string           // the nonce header, unchecked
	URL       string           // the url header, unchecked

	signingInput []byte // protected "." payload, as sent
	payload      string // base64url, as sent
	signature    []byte
}

// flattened is a JWS JSON serialization, read with fields for the forms
// ACME does not allow so that they can be refused by name.
type flattened struct {
	Protected  *string          `json:"protected"`
	Header     json.RawMessage  `json:"header"`
	Payload    *string          `json:"payload"`
	Signature  *string          `json:"signature"`
	Signatures *json.RawMessage `json:"signatures"`
}

// protectedHeader holds the header parameters ACME uses (RFC 8555 section
// 6.2), and those it refuses.
type protectedHeader struct {
	Alg   string          `json:"alg"`
	KID   string          `json:"kid"`
	JWK   json.RawMessage `json:"jwk"`
	Nonce json.RawMessage `json:"nonce"`
	URL   json.RawMessage `json:"url"`
	B64   json.RawMessage `json:"b64"`
	Crit  json.RawMessage `json:"crit"`
}

// Parse reads body as a flattened JWS JSON serialization with exactly one of
// jwk and kid in its protected header, an accepted algorithm and a url.
//
// The envelope is read by plain.go (its usual form) or encoding/json and
// the signature checked with crypto/* directly: on the issuer's hot path
// this is several times cheaper than a general JOSE parser. go-jose still
// parses JWKs.
func Parse(body []byte) (*Message, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, problem.MalformedErr("request body is not a JWS in flattened JSON serialization")
	}
	f, err := readEnvelope(body)
	if err != nil {
		return nil, err
	}
	switch {
	case f.signatures:
		return nil, problem.MalformedErr("JWS general serialization (signatures) is not allowed; use the flattened serialization")
	case f.header:
		return nil, problem.MalformedErr("JWS unprotected header is not allowed")
	case f.protected == nil || *f.protected == "":
		return nil, problem.MalformedErr("JWS has no protected header")
	case f.payload == nil:
		return nil, problem.MalformedErr("JWS has no payload")
	case f.signature == nil || *f.signature == "":
		return nil, problem.MalformedErr("JWS has no signature")
	}
	rawHeader, err := base64.RawURLEncoding.DecodeString(*f.protected)
	if err != nil {
		return nil, problem.MalformedErr("JWS protected header is not base64url")
	}
	h, err := readHeader(rawHeader)
	if err != nil {
		return nil, err
	}
	sig, err := base64.RawURLEncoding.DecodeString(*f.signature)
	if err != nil {
		return nil, problem.MalformedErr("JWS signature is not base64url")
	}
	if !slices.Contains(Algorithms(), h.alg) {
		return nil, BadAlgorithm(h.alg)
	}
	if h.b64OrCrit {
		return nil, problem.MalformedErr("JWS headers b64 and crit are not allowed")
	}
	if h.nonceJSON != nil && json.Unmarshal(h.nonceJSON, &h.nonce) != nil {
		return nil, problem.MalformedErr("JWS header nonce is not a string")
	}
	if h.urlJSON != nil && json.Unmarshal(h.urlJSON, &h.url) != nil {
		return nil, problem.MalformedErr("JWS header url is not a string")
	}
	input := make([]byte, 0, len(*f.protected)+1+len(*f.payload))
	input = append(append(append(input, *f.protected...), '.'), *f.payload...)
	m := &Message{
		Algorithm:    h.alg,
		KeyID:        h.kid,
		Nonce:        h.nonce,
		URL:          h.url,
		signingInput: input,
		payload:      *f.payload,
		signature:    sig,
	}
	if h.jwk != nil {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(h.jwk); errors.Is(err, jose.ErrUnsupportedKeyType) {
			// A key type, curve or RSA size go-jose does not read (RSA
			// over 4096 bits) is one the server does not support.
			return nil, problem.New(problem.BadPublicKey, "JWS header jwk is a key type, curve or size this server does not support")
		} else if err != nil {
			return nil, problem.MalformedErr("JWS header jwk is not a valid JWK")
		}
		m.Key = &k
	}
	switch {
	case m.URL == "":
		return nil, problem.MalformedErr("JWS header has no url")
	case m.Key != nil && m.KeyID != "":
		return nil, problem.MalformedErr("JWS header has both jwk and kid")
	case m.Key == nil && m.KeyID == "":
		return nil, problem.MalformedErr("JWS header has neither jwk nor kid")
	}
	return m, nil
}

// BadAlgorithm returns the badSignatureAlgorithm problem for alg.
func BadAlgorithm(alg string) *problem.Error {
	p := problem.New(problem.BadSignatureAlgorithm, "signature algorithm %q is not supported", alg)
	p.Algorithms = Algorithms()
	return p
}

// Verify checks m's signature with key, which must suit m.Algorithm, and
// returns the payload.
func (m *Message) Verify(key *jose.JSONWebKey) ([]byte, error) {
	if err := CheckKey(key, m.Algorithm); err != nil {
		return nil, err
	}
	if !verifySignature(key.Key, m.Algorithm, m.signingInput, m.signature) {
		return nil, problem.MalformedErr("JWS signature is invalid")
	}
	payload, err := base64.RawURLEncoding.DecodeString(m.payload)
	if err != nil {
		return nil, problem.MalformedErr("JWS payload is not base64url")
	}
	return payload, nil
}

// verifySignature checks a JWS signature (RFC 7518 section 3) over input
// with pub, whose type CheckKey has matched to alg.
func verifySignature(pub crypto.PublicKey, alg string, input, sig []byte) bool {
	switch alg {
	case ES256, ES384:
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return false
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return false
		}
		var digest []byte
		if alg == ES256 {
			d := sha256.Sum256(input)
			digest = d[:]
		} else {
			d := sha512.Sum384(input)
			digest = d[:]
		}
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(k, digest, r, s)
	case RS256:
		k, ok := pub.(*rsa.PublicKey)
		d := sha256.Sum256(input)
		return ok && rsa.VerifyPKCS1v15(k, crypto.SHA256, d[:], sig) == nil
	case EdDSA:
		k, ok := pub.(ed25519.PublicKey)
		return ok && ed25519.Verify(k, input, sig)
	}
	return false
}

// CheckKey reports whether key is a public key with a JWS algorithm and
// whether alg is that algorithm: ES256 for P-256, ES384 for P-384, RS256 for
// RSA, EdDSA for Ed25519. Whether the key is acceptable (RSA size, ...) is
// keypolicy's to say, before the signature is checked.
func CheckKey(key *jose.JSONWebKey, alg string) error {
	if key == nil || !key.Valid() || !key.IsPublic() {
		return problem.New(problem.BadPublicKey, "key is not a valid public key")
	}
	want, err := keyAlgorithm(key.Key)
	if err != nil {
		return err
	}
	if want != alg {
		p := problem.New(problem.BadSignatureAlgorithm, "signature algorithm %q does not suit the key (want %s)", alg, want)
		p.Algorithms = Algorithms()
		return p
	}
	return nil
}

func keyAlgorithm(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return ES256, nil
		case elliptic.P384():
			return ES384, nil
		}
		return "", problem.New(problem.BadPublicKey, "ECDSA curve %s has no accepted JWS algorithm; use P-256 or P-384", k.Curve.Params().Name)
	case *rsa.PublicKey:
		return RS256, nil
	case ed25519.PublicKey:
		return EdDSA, nil
	}
	return "", problem.New(problem.BadPublicKey, "key type %T is not supported", pub)
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of key, base64url
// without padding.
func Thumbprint(key *jose.JSONWebKey) (string, error) {
	b, err := key.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", problem.New(problem.BadPublicKey, "cannot compute key thumbprint")
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// PublicKeyThumbprint returns the thumbprint of a crypto public key, e.g.
// one taken from a CSR or certificate.
func PublicKeyThumbprint(pub crypto.PublicKey) (string, error) {
	return Thumbprint(&jose.JSONWebKey{Key: pub})
}

// ParseKey reads a public JWK as stored or sent in JSON.
func ParseKey(b []byte) (*jose.JSONWebKey, error) {
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(b); err != nil {
		return nil, problem.MalformedErr("key is not a valid JWK")
	}
	if !k.Valid() || !k.IsPublic() {
		return nil, problem.MalformedErr("key is not a valid public JWK")
	}
	return &k, nil
}

// MarshalKey returns the JSON form of key's public part.
func MarshalKey(key *jose.JSONWebKey) ([]byte, error) {
	pub := key.Public()
	b, err := pub.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("marshal jwk: %w", err)
	}
	return b, nil
}
