package bench

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"testing"
)

// TestSignedBodyMatchesEncodingJSON checks that the hand-encoded JWS is
// byte for byte what encoding/json makes of the same header and payload,
// and that its signature verifies.
func TestSignedBodyMatchesEncodingJSON(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := newACMEClient(nil, &directory{}, key)
	cases := []struct {
		kid, nonce, url string
		payload         []byte
	}{
		{"", "n0nce_-AB", "https://127.0.0.1:8443/acme/new-account", []byte(`{"termsOfServiceAgreed":true}`)},
		{"", "", "https://h/new-nonce-less", nil},
		{"https://127.0.0.1:8443/acme/acct/1", "abc", "https://127.0.0.1:8443/acme/order/2", nil},
		{"https://127.0.0.1:8443/acme/acct/1", "abc", "https://h/x?a=1&b=<2>", []byte(`{}`)},
		{"https://h/acct/\"q\"\\é\u2028", "n\x01", "https://h/\t", []byte("x")},
	}
	for _, tc := range cases {
		c.kid, c.nonce = tc.kid, tc.nonce
		got, err := c.signedBody(tc.url, tc.payload)
		if err != nil {
			t.Fatal(err)
		}
		if c.nonce != "" {
			t.Errorf("nonce not spent")
		}
		var f flattened
		if err := json.Unmarshal(got, &f); err != nil {
			t.Fatalf("%s: %v", got, err)
		}
		h := protectedHeader{Alg: "ES256", Nonce: tc.nonce, URL: tc.url}
		if tc.kid != "" {
			h.KID = tc.kid
		} else {
			h.JWK = c.jwk
		}
		hb, _ := json.Marshal(h)
		want, _ := json.Marshal(flattened{Protected: b64(hb), Payload: b64(tc.payload), Signature: f.Signature})
		if string(got) != string(want) {
			t.Errorf("signedBody:\n got %s\nwant %s", got, want)
		}
		sig, err := base64.RawURLEncoding.DecodeString(f.Signature)
		if err != nil || len(sig) != 64 {
			t.Fatalf("signature %q: %v", f.Signature, err)
		}
		digest := sha256.Sum256([]byte(f.Protected + "." + f.Payload))
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(&key.PublicKey, digest[:], r, s) {
			t.Errorf("signature does not verify")
		}
	}
}

func TestPutScalar(t *testing.T) {
	var dst [4]byte
	if !putScalar(dst[:], []byte{0, 0, 1, 2}) || dst != [4]byte{0, 0, 1, 2} {
		t.Errorf("got %x", dst)
	}
	if !putScalar(dst[:], []byte{0, 9, 8, 7, 6}) || dst != [4]byte{9, 8, 7, 6} {
		t.Errorf("got %x", dst)
	}
	if putScalar(dst[:], []byte{1, 2, 3, 4, 5}) {
		t.Errorf("a 5-byte integer fit in 4 bytes")
	}
}
