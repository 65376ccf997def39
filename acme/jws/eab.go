package jws

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"hash"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/lantls/lantls/internal/jsonkeys"
	"github.com/lantls/lantls/problem"
)

// Binding is a parsed external account binding (RFC 8555 section 7.3.4): a
// JWS over the new account's public key, MACed with the EAB key named by
// KeyID. Its MAC has not been checked yet.
type Binding struct {
	KeyID     string // the EAB key ID (kid header)
	Algorithm string // HS256, HS384 or HS512
	URL       string // the url header; must be the newAccount URL

	protected string // as sent, for the MAC input
	payload   string // as sent, for the MAC input
	mac       []byte
}

// macHashes are the accepted EAB algorithms. The MAC is computed here rather
// than by go-jose, which refuses HMAC keys shorter than the hash output and
// would so reject HS384 and HS512 with the usual 32-byte EAB keys.
var macHashes = map[string]func() hash.Hash{
	"HS256": sha256.New,
	"HS384": sha512.New384,
	"HS512": sha512.New,
}

// ParseBinding reads the externalAccountBinding member of a newAccount
// payload.
func ParseBinding(raw json.RawMessage) (*Binding, error) {
	var f flattened
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, problem.MalformedErr("externalAccountBinding is not a JWS in flattened JSON serialization")
	}
	if k, dup := jsonkeys.Duplicate(raw); dup {
		return nil, problem.MalformedErr("externalAccountBinding member %q appears twice", k)
	}
	if f.Signatures != nil || f.Header != nil || f.Protected == nil || f.Payload == nil || f.Signature == nil {
		return nil, problem.MalformedErr("externalAccountBinding must be a flattened JWS with protected header, payload and signature only")
	}
	hb, err := base64.RawURLEncoding.DecodeString(*f.Protected)
	if err != nil {
		return nil, problem.MalformedErr("externalAccountBinding protected header is not base64url")
	}
	var h struct {
		Algorithm string           `json:"alg"`
		KeyID     string           `json:"kid"`
		URL       string           `json:"url"`
		Nonce     *json.RawMessage `json:"nonce"`
		JWK       *json.RawMessage `json:"jwk"`
	}
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, problem.MalformedErr("externalAccountBinding protected header is not a JSON object")
	}
	if k, dup := jsonkeys.Duplicate(hb); dup {
		return nil, problem.MalformedErr("externalAccountBinding protected header %q appears twice", k)
	}
	mac, err := base64.RawURLEncoding.DecodeString(*f.Signature)
	if err != nil {
		return nil, problem.MalformedErr("externalAccountBinding signature is not base64url")
	}
	switch {
	case macHashes[h.Algorithm] == nil:
		return nil, problem.MalformedErr("externalAccountBinding algorithm %q is not HS256, HS384 or HS512", h.Algorithm)
	case h.KeyID == "":
		return nil, problem.MalformedErr("externalAccountBinding has no kid")
	case h.Nonce != nil:
		return nil, problem.MalformedErr("externalAccountBinding must not have a nonce")
	case h.JWK != nil:
		return nil, problem.MalformedErr("externalAccountBinding must not have a jwk")
	}
	return &Binding{
		KeyID:     h.KeyID,
		Algorithm: h.Algorithm,
		URL:       h.URL,
		protected: *f.Protected,
		payload:   *f.Payload,
		mac:       mac,
	}, nil
}

// Verify checks b's MAC with the EAB key and returns the JWK it binds.
func (b *Binding) Verify(key []byte) (*jose.JSONWebKey, error) {
	m := hmac.New(macHashes[b.Algorithm], key)
	m.Write([]byte(b.protected + "." + b.payload))
	if !hmac.Equal(m.Sum(nil), b.mac) {
		return nil, problem.UnauthorizedErr("externalAccountBinding MAC is invalid")
	}
	pb, err := base64.RawURLEncoding.DecodeString(b.payload)
	if err != nil {
		return nil, problem.MalformedErr("externalAccountBinding payload is not base64url")
	}
	return ParseKey(pb)
}
