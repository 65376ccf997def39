package pairing

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzNormalizeUserCode checks that the normalizer never panics, that
// whatever it accepts is a code it would make, and that it is idempotent
// and blind to case and dashes.
func FuzzNormalizeUserCode(f *testing.F) {
	for _, s := range []string{"WDJB-MJHT", "wdjbmjht", " wdjb mjht ", "WDJB--MJHT", "AAAA-AAAA", "", "ß", strings.Repeat("B", 65)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		code, ok := NormalizeUserCode(s)
		if !ok {
			return
		}
		if len(code) != UserCodeLen || strings.Trim(code, UserCodeAlphabet) != "" {
			t.Fatalf("NormalizeUserCode(%q) = %q, not %d characters of the alphabet", s, code, UserCodeLen)
		}
		for _, v := range []string{code, FormatUserCode(code), strings.ToLower(FormatUserCode(code))} {
			if again, ok := NormalizeUserCode(v); !ok || again != code {
				t.Fatalf("NormalizeUserCode(%q) = %q, %v; want %q", v, again, ok, code)
			}
		}
	})
}

// FuzzDeviceAuthorizationForm feeds request bodies to the form and JWK
// parsing of POST /pair/device_authorization: no panic, and an accepted
// request has a P-256 key, a label and a thumbprint.
func FuzzDeviceAuthorizationForm(f *testing.F) {
	f.Add(`client_id=lantls-agent&model=TV&hostname=tv&public_key=` + url.QueryEscape(`{"kty":"EC","crv":"P-256","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}`))
	f.Add(`client_id=a&public_key={"kty":"EC","crv":"P-384"}`)
	f.Add(`client_id=a&client_id=b`)
	f.Add(`public_key=%7B%22kty%22%3A%22RSA%22%7D`)
	f.Add(`%zz`)
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		r, err := parseAuthorizationRequest(form)
		if err != nil {
			return
		}
		if r.key == nil || len(r.label) != 26 || r.thumbprint == "" || r.clientID == "" || len(r.jwk) == 0 {
			t.Fatalf("accepted %q as %+v", body, r)
		}
	})
}

// FuzzParseJWK checks that the JWK parser never panics and accepts only
// public P-256 keys.
func FuzzParseJWK(f *testing.F) {
	f.Add([]byte(`{"kty":"EC","crv":"P-256","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}`))
	f.Add([]byte(`{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}`))
	f.Add([]byte(`{"kty":"oct","k":"AAAA"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseJWK(b)
		if err != nil {
			return
		}
		if !k.IsPublic() || k.Algorithm != "" && k.Algorithm != "ES256" {
			t.Fatalf("ParseJWK(%q) accepted %+v", b, k)
		}
	})
}

// FuzzTokenForm feeds request bodies to the form parsing of POST
// /pair/token.
func FuzzTokenForm(f *testing.F) {
	f.Add(`grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=lantls_dc_x&client_id=a`)
	f.Add(`grant_type=password`)
	f.Add(`device_code=a&device_code=b`)
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		r, err := parseTokenRequest(form)
		if err != nil {
			return
		}
		if r.deviceCode == "" || r.clientID == "" || form.Get("grant_type") != DeviceCodeGrant {
			t.Fatalf("accepted %q as %+v", body, r)
		}
	})
}

func TestNewUserCode(t *testing.T) {
	seen := map[byte]bool{}
	for range 200 {
		c := newUserCode()
		if n, ok := NormalizeUserCode(c); !ok || n != c {
			t.Fatalf("newUserCode() = %q is not a normalized code", c)
		}
		for i := range len(c) {
			seen[c[i]] = true
		}
	}
	if len(seen) != len(UserCodeAlphabet) {
		t.Errorf("200 codes used %d of the %d letters", len(seen), len(UserCodeAlphabet))
	}
}
