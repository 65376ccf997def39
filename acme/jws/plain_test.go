package jws

import (
	"encoding/json"
	"testing"

	"github.com/lantls/lantls/internal/jsonkeys"
)

// TestPlainMembers: which forms plainMembers reads itself and which it
// leaves to encoding/json.
func TestPlainMembers(t *testing.T) {
	for _, tt := range []struct {
		data string
		ok   bool
	}{
		{`{"protected":"e30","payload":"","signature":"AAAA"}`, true},
		{" \t\r\n{ \"signature\" : \"AAAA\" ,\n\"protected\":\"e30\"}\n", true},
		{`{}`, true},
		{`{"payload":"x"}`, true},
		{`{"protected":"e30","protected":"e30"}`, false}, // twice
		{`{"Protected":"e30"}`, false},                   // encoding/json matches any case
		{`{"protected":"e3\u0030"}`, false},              // an escape
		{`{"protected":"é"}`, false},                     // not ASCII
		{"{\"protected\":\"a\tb\"}", false},              // a control character
		{`{"protected":null}`, false},                    // not a string
		{`{"protected":"e30","header":{}}`, false},       // another member
		{`{"protected":"e30"} x`, false},                 // trailing data
		{`{"protected":"e30",}`, false},                  // not JSON
		{`{"protected":"e30"`, false},                    // cut short
		{`{"protected" "e30"}`, false},                   // no colon
		{`["protected","e30"]`, false},                   // not an object
		{`{"protected":"e30"}}`, false},                  // trailing brace
		{"{\"protected\":\"e30\"}\u00a0", false},         // not JSON whitespace
		{`{"protected":"e30","payload":"x","signature":"y","signatures":[]}`, false},
	} {
		var v [3]string
		if _, ok := plainMembers([]byte(tt.data), envelopeNames, v[:]); ok != tt.ok {
			t.Errorf("plainMembers(%q) ok = %v, want %v", tt.data, ok, tt.ok)
		}
	}
}

// FuzzPlainMatchesJSON checks that what plainMembers reads, as an envelope
// or as a protected header, encoding/json reads the same and with no
// member twice, so that Parse's fast path changes nothing it decides.
func FuzzPlainMatchesJSON(f *testing.F) {
	for _, s := range []string{
		`{"protected":"eyJhbGciOiJFUzI1NiJ9","payload":"e30","signature":"AAAA"}`,
		`{"alg":"ES256","kid":"https://ca.test/acme/account/1","nonce":"n","url":"https://ca.test/acme/new-order"}`,
		`{"alg":"ES256","jwk":{"kty":"EC"},"nonce":"n","url":"u"}`,
		`{ "payload" : "" , "protected" : "e30" }`,
		`{"url":"a","URL":"b"}`,
		`{"nonce":"a\"b"}`,
		`{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var ev [3]string
		if present, ok := plainMembers(data, envelopeNames, ev[:]); ok {
			var fl flattened
			if err := json.Unmarshal(data, &fl); err != nil {
				t.Fatalf("plain envelope %q is not JSON to encoding/json: %v", data, err)
			}
			if k, dup := jsonkeys.Duplicate(data); dup {
				t.Fatalf("plain envelope %q has %q twice", data, k)
			}
			if fl.Header != nil || fl.Signatures != nil {
				t.Fatalf("plain envelope %q has header or signatures to encoding/json", data)
			}
			for i, p := range []*string{fl.Protected, fl.Payload, fl.Signature} {
				if (present&(1<<i) != 0) != (p != nil) || p != nil && *p != ev[i] {
					t.Fatalf("plain envelope %q: %s read as %q (present %v), encoding/json %v", data, envelopeNames[i], ev[i], present&(1<<i) != 0, p)
				}
			}
		}
		var hv [4]string
		if present, ok := plainMembers(data, headerNames, hv[:]); ok {
			var h protectedHeader
			if err := json.Unmarshal(data, &h); err != nil {
				t.Fatalf("plain header %q is not JSON to encoding/json: %v", data, err)
			}
			if k, dup := jsonkeys.Duplicate(data); dup {
				t.Fatalf("plain header %q has %q twice", data, k)
			}
			if h.JWK != nil || h.B64 != nil || h.Crit != nil || h.Alg != hv[0] || h.KID != hv[1] {
				t.Fatalf("plain header %q: read %q, encoding/json %+v", data, hv, h)
			}
			for i, raw := range []json.RawMessage{h.Nonce, h.URL} {
				var s string
				if (present&(1<<(2+i)) != 0) != (raw != nil) || raw != nil && (json.Unmarshal(raw, &s) != nil || s != hv[2+i]) {
					t.Fatalf("plain header %q: %s read as %q, encoding/json %s", data, headerNames[2+i], hv[2+i], raw)
				}
			}
		}
	})
}
