package jws_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/lantls/lantls/acme/internal/acmetest"
	"github.com/lantls/lantls/acme/jws"
	"github.com/lantls/lantls/problem"
)

const testURL = "https://ca.test/acme/new-order"

func ecKey(t *testing.T, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func rsaKey(t *testing.T, bits int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sign(t *testing.T, key any, alg string, header map[string]any, payload string) []byte {
	t.Helper()
	f, err := acmetest.Sign(key, alg, header, []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	return f.JSON()
}

func TestParseAndVerify(t *testing.T) {
	p256 := ecKey(t, elliptic.P256())
	p384 := ecKey(t, elliptic.P384())
	p521 := ecKey(t, elliptic.P521())
	rsa2048 := rsaKey(t, 2048)
	_, ed := edKey(t)

	withJWK := func(k crypto.Signer) map[string]any {
		return map[string]any{"jwk": acmetest.JWK(k.Public()), "nonce": "n", "url": testURL}
	}
	valid := sign(t, p256, "ES256", withJWK(p256), `{"a":1}`)
	var tampered map[string]string
	json.Unmarshal(valid, &tampered)
	tampered["payload"] = base64.RawURLEncoding.EncodeToString([]byte(`{"a":2}`))
	tamperedBody, _ := json.Marshal(tampered)
	var general = map[string]any{
		"payload":    tampered["payload"],
		"signatures": []map[string]string{{"protected": tampered["protected"], "signature": tampered["signature"]}},
	}
	generalBody, _ := json.Marshal(general)
	var unprotected map[string]any
	json.Unmarshal(valid, &unprotected)
	unprotected["header"] = map[string]string{"foo": "bar"}
	unprotectedBody, _ := json.Marshal(unprotected)
	compact := tampered["protected"] + "." + tampered["payload"] + "." + tampered["signature"]

	tests := []struct {
		name      string
		body      []byte
		parseKind problem.Kind // "" if Parse succeeds
		verifyKey crypto.PublicKey
		verify    problem.Kind // "" if Verify succeeds
	}{
		{name: "ES256 jwk", body: valid, verifyKey: p256.Public()},
		{name: "ES384 jwk", body: sign(t, p384, "ES384", withJWK(p384), `{}`), verifyKey: p384.Public()},
		{name: "RS256 jwk", body: sign(t, rsa2048, "RS256", withJWK(rsa2048), `{}`), verifyKey: rsa2048.Public()},
		{name: "EdDSA jwk", body: sign(t, ed, "EdDSA", withJWK(ed), `{}`), verifyKey: ed.Public()},
		{name: "kid", body: sign(t, p256, "ES256", map[string]any{"kid": "https://ca.test/acme/account/1", "nonce": "n", "url": testURL}, ``), verifyKey: p256.Public()},
		{name: "tampered payload", body: tamperedBody, verifyKey: p256.Public(), verify: problem.Malformed},
		{name: "other key", body: valid, verifyKey: ecKey(t, elliptic.P256()).Public(), verify: problem.Malformed},
		{name: "compact", body: []byte(compact), parseKind: problem.Malformed},
		{name: "general serialization", body: generalBody, parseKind: problem.Malformed},
		{name: "unprotected header", body: unprotectedBody, parseKind: problem.Malformed},
		{name: "not JSON", body: []byte(`{"protected":`), parseKind: problem.Malformed},
		{name: "HS256", body: sign(t, []byte("0123456789abcdef0123456789abcdef"), "HS256", map[string]any{"kid": "x", "nonce": "n", "url": testURL}, `{}`), parseKind: problem.BadSignatureAlgorithm},
		{name: "ES512", body: sign(t, p521, "ES512", withJWK(p521), `{}`), parseKind: problem.BadSignatureAlgorithm},
		{name: "none", body: []byte(`{"protected":"` + b64(`{"alg":"none","kid":"x","nonce":"n","url":"`+testURL+`"}`) + `","payload":"","signature":"AA"}`), parseKind: problem.BadSignatureAlgorithm},
		{name: "jwk and kid", body: sign(t, p256, "ES256", map[string]any{"jwk": acmetest.JWK(p256.Public()), "kid": "x", "url": testURL}, `{}`), parseKind: problem.Malformed},
		{name: "neither jwk nor kid", body: sign(t, p256, "ES256", map[string]any{"nonce": "n", "url": testURL}, `{}`), parseKind: problem.Malformed},
		{name: "no url", body: sign(t, p256, "ES256", map[string]any{"kid": "x", "nonce": "n"}, `{}`), parseKind: problem.Malformed},
		{name: "crit b64", body: sign(t, p256, "ES256", map[string]any{"kid": "x", "url": testURL, "b64": false, "crit": []string{"b64"}}, `{}`), parseKind: problem.Malformed},
		{name: "alg does not suit key", body: sign(t, p384, "ES256", withJWK(p384), `{}`), verifyKey: p384.Public(), verify: problem.BadSignatureAlgorithm},
		// Key sizes are keypolicy's rule, applied by the front end.
		{name: "P-521 key with ES256", body: sign(t, p521, "ES256", withJWK(p521), `{}`), verifyKey: p521.Public(), verify: problem.BadPublicKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := jws.Parse(tt.body)
			if tt.parseKind != "" {
				if !problem.Is(err, tt.parseKind) {
					t.Fatalf("Parse: got %v, want %s", err, tt.parseKind)
				}
				if tt.parseKind == problem.BadSignatureAlgorithm && len(problem.OrInternal(err).Algorithms) == 0 {
					t.Errorf("badSignatureAlgorithm without algorithms")
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if m.URL != testURL {
				t.Errorf("URL = %q", m.URL)
			}
			_, err = m.Verify(jwkOf(tt.verifyKey))
			if tt.verify == "" && err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if tt.verify != "" && !problem.Is(err, tt.verify) {
				t.Fatalf("Verify: got %v, want %s", err, tt.verify)
			}
		})
	}
}

func edKey(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func TestThumbprintRFC7638(t *testing.T) {
	// The example of RFC 7638 section 3.1.
	const jwk = `{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`
	key, err := jws.ParseKey([]byte(jwk))
	if err != nil {
		t.Fatal(err)
	}
	got, err := jws.Thumbprint(key)
	if err != nil {
		t.Fatal(err)
	}
	if want := "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
		t.Errorf("Thumbprint = %s, want %s", got, want)
	}
}

func TestBinding(t *testing.T) {
	acct := ecKey(t, elliptic.P256())
	other := ecKey(t, elliptic.P256())
	mac := make([]byte, 32)
	rand.Read(mac)
	const newAccount = "https://ca.test/acme/new-account"
	header := func(extra ...any) map[string]any {
		h := map[string]any{"kid": "eab1", "url": newAccount}
		for i := 0; i+1 < len(extra); i += 2 {
			h[extra[i].(string)] = extra[i+1]
		}
		return h
	}
	jwk := string(acmetest.JWK(acct.Public()))
	tests := []struct {
		name       string
		body       []byte
		key        []byte
		parseKind  problem.Kind
		verifyKind problem.Kind
		want       crypto.PublicKey
	}{
		{name: "HS256", body: sign(t, mac, "HS256", header(), jwk), key: mac, want: acct.Public()},
		{name: "HS384", body: sign(t, mac, "HS384", header(), jwk), key: mac, want: acct.Public()},
		{name: "HS512", body: sign(t, mac, "HS512", header(), jwk), key: mac, want: acct.Public()},
		{name: "other account key", body: sign(t, mac, "HS256", header(), string(acmetest.JWK(other.Public()))), key: mac, want: other.Public()},
		{name: "wrong MAC key", body: sign(t, mac, "HS256", header(), jwk), key: []byte("another key of thirty-two bytes!"), verifyKind: problem.Unauthorized},
		{name: "ES256", body: sign(t, acct, "ES256", header(), jwk), parseKind: problem.Malformed},
		{name: "nonce", body: sign(t, mac, "HS256", header("nonce", "x"), jwk), parseKind: problem.Malformed},
		{name: "no kid", body: sign(t, mac, "HS256", map[string]any{"url": newAccount}, jwk), parseKind: problem.Malformed},
		{name: "payload not a JWK", body: sign(t, mac, "HS256", header(), `{"foo":1}`), key: mac, verifyKind: problem.Malformed},
		{name: "not a JWS", body: []byte(`"x"`), parseKind: problem.Malformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := jws.ParseBinding(tt.body)
			if tt.parseKind != "" {
				if !problem.Is(err, tt.parseKind) {
					t.Fatalf("ParseBinding: got %v, want %s", err, tt.parseKind)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseBinding: %v", err)
			}
			if b.KeyID != "eab1" || b.URL != newAccount {
				t.Errorf("binding = %+v", b)
			}
			key, err := b.Verify(tt.key)
			if tt.verifyKind != "" {
				if !problem.Is(err, tt.verifyKind) {
					t.Fatalf("Verify: got %v, want %s", err, tt.verifyKind)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if acmetest.Thumbprint(key.Key) != acmetest.Thumbprint(tt.want) {
				t.Errorf("bound key differs")
			}
		})
	}
}

func jwkOf(pub crypto.PublicKey) *jose.JSONWebKey { return &jose.JSONWebKey{Key: pub} }

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// TestParseRefusesDuplicateMembers: a JWS whose envelope or protected
// header names a member twice is malformed, whichever of them would be
// kept (RFC 7515 section 5.2).
func TestParseRefusesDuplicateMembers(t *testing.T) {
	enc := base64.RawURLEncoding.EncodeToString
	hdr := enc([]byte(`{"alg":"ES256","nonce":"n","url":"u","kid":"k"}`))
	for name, body := range map[string]string{
		"envelope":         `{"protected":"e30","protected":"` + hdr + `","payload":"","signature":"AAAA"}`,
		"protected header": `{"protected":"` + enc([]byte(`{"alg":"none","alg":"ES256","nonce":"n","url":"u","kid":"k"}`)) + `","payload":"","signature":"AAAA"}`,
	} {
		_, err := jws.Parse([]byte(body))
		if !problem.Is(err, problem.Malformed) || !strings.Contains(err.Error(), "twice") {
			t.Errorf("%s with a member twice: %v, want malformed", name, err)
		}
	}
}
