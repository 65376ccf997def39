package jws_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/lantls/lantls/acme/internal/acmetest"
	"github.com/lantls/lantls/acme/jws"
	"github.com/lantls/lantls/problem"
)

// fuzzSeeds are request bodies of the forms clients send, signed with a
// P-256 key: a jwk request, a kid request and an external account binding.
func fuzzSeeds(f *testing.F) (bodies [][]byte, binding []byte) {
	f.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	jwk, err := acmetest.Sign(k, "ES256", map[string]any{"jwk": acmetest.JWK(k.Public()), "nonce": "n", "url": testURL}, []byte(`{"onlyReturnExisting":true}`))
	if err != nil {
		f.Fatal(err)
	}
	kid, err := acmetest.Sign(k, "ES256", map[string]any{"kid": "https://ca.test/acme/account/1", "nonce": "n", "url": testURL}, nil)
	if err != nil {
		f.Fatal(err)
	}
	eab, err := acmetest.Sign([]byte("0123456789abcdef0123456789abcdef"), "HS256", map[string]any{"kid": "kid", "url": testURL}, acmetest.JWK(k.Public()))
	if err != nil {
		f.Fatal(err)
	}
	return [][]byte{jwk.JSON(), kid.JSON()}, eab.JSON()
}

// FuzzParse feeds Parse, and Verify with the message's own jwk, any body:
// they never panic, and every error is a problem a client can be sent.
func FuzzParse(f *testing.F) {
	bodies, eab := fuzzSeeds(f)
	for _, b := range append(bodies, eab, []byte(`{}`), []byte(`eyJhbGciOiJFUzI1NiJ9.e30.AAAA`)) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := jws.Parse(body)
		if err != nil {
			requireProblem(t, "Parse", err)
			return
		}
		if m.Key != nil {
			if _, err := m.Verify(m.Key); err != nil {
				requireProblem(t, "Verify", err)
			}
		}
	})
}

// FuzzParseBinding feeds ParseBinding, and Verify with a fixed MAC key,
// any externalAccountBinding: they never panic, and every error is a
// problem.
func FuzzParseBinding(f *testing.F) {
	_, eab := fuzzSeeds(f)
	f.Add(eab)
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		b, err := jws.ParseBinding(raw)
		if err != nil {
			requireProblem(t, "ParseBinding", err)
			return
		}
		if _, err := b.Verify([]byte("0123456789abcdef0123456789abcdef")); err != nil {
			requireProblem(t, "Verify", err)
		}
	})
}

func requireProblem(t *testing.T, what string, err error) {
	t.Helper()
	var p *problem.Error
	if !errors.As(err, &p) {
		t.Fatalf("%s: %v is not a problem", what, err)
	}
}

// BenchmarkParse parses the two forms of request an issuance sends: a kid
// request (five of six) and a jwk one (newAccount).
func BenchmarkParse(b *testing.B) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	kid, err := acmetest.Sign(k, "ES256", map[string]any{"kid": "https://ca.test/acme/account/0195f1c2a9e07bc4d3e5f60718293a4b", "nonce": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "url": testURL}, []byte(`{"csr":"`+strings.Repeat("A", 600)+`"}`))
	if err != nil {
		b.Fatal(err)
	}
	jwk, err := acmetest.Sign(k, "ES256", map[string]any{"jwk": acmetest.JWK(k.Public()), "nonce": "n", "url": testURL}, []byte(`{"termsOfServiceAgreed":true}`))
	if err != nil {
		b.Fatal(err)
	}
	for name, body := range map[string][]byte{"kid": kid.JSON(), "jwk": jwk.JSON()} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := jws.Parse(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
