package badinput

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// want is what a hostile request must get: its status and, for ACME and
// the device API, the RFC 7807 problem type (after
// urn:ietf:params:acme:error:); for pairing, the OAuth error (RFC 6749
// section 5.2, RFC 8628 section 3.5); or a substring of the body, or the
// Location of a redirect.
type want struct {
	status   int
	problem  string
	oauth    string
	body     string
	absent   string // a substring the body must not have
	location string
}

// tcase is one hostile request; do sends it and returns the response.
type tcase struct {
	name string
	do   func(t *testing.T) *http.Response
	want want
}

// request sends method url with body and headers (name, value, ...).
func (e *env) request(t *testing.T, method, u string, body []byte, headers ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "Host" {
			req.Host = headers[i+1]
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	return resp
}

// check compares resp with w.
func check(t *testing.T, resp *http.Response, w want) {
	t.Helper()
	body := readAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != w.status {
		t.Errorf("status %s, want %d\n%.600s", resp.Status, w.status, body)
	}
	if w.problem != "" {
		var p struct{ Type string }
		if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" || json.Unmarshal(body, &p) != nil ||
			p.Type != "urn:ietf:params:acme:error:"+w.problem {
			t.Errorf("problem %s (%s), want type %s\n%.600s", p.Type, ct, w.problem, body)
		}
		if w.problem == "rateLimited" && resp.Header.Get("Retry-After") == "" {
			t.Error("rateLimited without Retry-After")
		}
	}
	if w.oauth != "" {
		var o struct{ Error string }
		if json.Unmarshal(body, &o) != nil || o.Error != w.oauth {
			t.Errorf("OAuth error %q, want %q\n%.600s", o.Error, w.oauth, body)
		}
	}
	if w.body != "" && !strings.Contains(string(body), w.body) {
		t.Errorf("body lacks %q\n%.600s", w.body, body)
	}
	if w.absent != "" && strings.Contains(string(body), w.absent) {
		t.Errorf("body has %q\n%.600s", w.absent, body)
	}
	if w.location != "" && resp.Header.Get("Location") != w.location {
		t.Errorf("Location %q, want %q", resp.Header.Get("Location"), w.location)
	}
}

// acmeCases are hostile requests to the ACME server: JWS, nonces, URLs,
// accounts, orders, CSRs and resource paths.
func acmeCases(e *env, c, dead *acmeClient, finalize, orderURL string) []tcase {
	dev := e.dev
	names := dev.Names
	other := e.dev2.Names
	nacct := func(t *testing.T) *acmeClient { return newACME(t, e) }
	withHeader := func(protected string) func(t *testing.T) *http.Response {
		return func(t *testing.T) *http.Response {
			u := c.dir["newOrder"]
			p := strings.NewReplacer("NONCE", c.nonce(t), "URL", u, "KID", c.kid, "JWK", jwk(c.key)).Replace(protected)
			return c.post(t, u, c.jws(p, `{"identifiers":[{"type":"dns","value":"`+names[0]+`"}]}`))
		}
	}
	order := func(ids string) func(t *testing.T) *http.Response {
		return func(t *testing.T) *http.Response { return c.signed(t, c.dir["newOrder"], `{"identifiers":`+ids+`}`) }
	}
	dns := func(ns ...string) string {
		var b []string
		for _, n := range ns {
			b = append(b, fmt.Sprintf(`{"type":"dns","value":%q}`, n))
		}
		return "[" + strings.Join(b, ",") + "]"
	}
	fin := func(csrB64 string) func(t *testing.T) *http.Response {
		return func(t *testing.T) *http.Response { return c.signed(t, finalize, `{"csr":"`+csrB64+`"}`) }
	}
	raw := func(body string, contentType string) func(t *testing.T) *http.Response {
		return func(t *testing.T) *http.Response {
			return e.request(t, "POST", c.dir["newOrder"], []byte(body), "Content-Type", contentType)
		}
	}
	malformed := want{status: 400, problem: "malformed"}
	rejected := want{status: 400, problem: "rejectedIdentifier"}
	return []tcase{
		// The JWS algorithm (RFC 8555 section 6.2).
		{"jws alg none", withHeader(`{"alg":"none","kid":"KID","nonce":"NONCE","url":"URL"}`), want{status: 400, problem: "badSignatureAlgorithm"}},
		{"jws alg HS256", withHeader(`{"alg":"HS256","kid":"KID","nonce":"NONCE","url":"URL"}`), want{status: 400, problem: "badSignatureAlgorithm"}},
		{"jws alg RS256 with an EC key", withHeader(`{"alg":"RS256","kid":"KID","nonce":"NONCE","url":"URL"}`), want{status: 400, problem: "badSignatureAlgorithm"}},
		{"jws alg missing", withHeader(`{"kid":"KID","nonce":"NONCE","url":"URL"}`), want{status: 400, problem: "badSignatureAlgorithm"}},
		// Nonces (section 6.5).
		{"nonce missing", withHeader(`{"alg":"ES256","kid":"KID","url":"URL"}`), want{status: 400, problem: "badNonce"}},
		{"nonce made up", withHeader(`{"alg":"ES256","kid":"KID","nonce":"AAAAAAAAAAAAAAAAAAAAAA","url":"URL"}`), want{status: 400, problem: "badNonce"}},
		{"nonce not base64url", withHeader(`{"alg":"ES256","kid":"KID","nonce":"!!!","url":"URL"}`), want{status: 400, problem: "badNonce"}},
		{"nonce replayed", func(t *testing.T) *http.Response {
			u := c.kid
			p := fmt.Sprintf(`{"alg":"ES256","kid":%q,"nonce":%q,"url":%q}`, c.kid, c.nonce(t), u)
			c.post(t, u, c.jws(p, "")).Body.Close()
			return c.post(t, u, c.jws(p, ""))
		}, want{status: 400, problem: "badNonce"}},
		// The url header (section 6.4).
		{"url of another resource", withHeader(`{"alg":"ES256","kid":"KID","nonce":"NONCE","url":"` + c.dir["newAccount"] + `"}`), want{status: 401, problem: "unauthorized"}},
		{"url of another host", withHeader(`{"alg":"ES256","kid":"KID","nonce":"NONCE","url":"https://evil.example/acme/new-order"}`), want{status: 401, problem: "unauthorized"}},
		{"url missing", withHeader(`{"alg":"ES256","kid":"KID","nonce":"NONCE"}`), malformed},
		// Keys (section 6.2).
		{"jwk and kid both", withHeader(`{"alg":"ES256","kid":"KID","jwk":JWK,"nonce":"NONCE","url":"URL"}`), malformed},
		{"neither jwk nor kid", withHeader(`{"alg":"ES256","nonce":"NONCE","url":"URL"}`), malformed},
		{"kid of no account", withHeader(`{"alg":"ES256","kid":"` + e.base + `/acme/account/nosuchaccount","nonce":"NONCE","url":"URL"}`), want{status: 400, problem: "accountDoesNotExist"}},
		{"kid of another server", withHeader(`{"alg":"ES256","kid":"https://evil.example/acme/account/1","nonce":"NONCE","url":"URL"}`), malformed},
		{"jwk on an account URL request", func(t *testing.T) *http.Response {
			u := c.dir["newOrder"]
			p := fmt.Sprintf(`{"alg":"ES256","jwk":%s,"nonce":%q,"url":%q}`, jwk(c.key), c.nonce(t), u)
			return c.post(t, u, c.jws(p, `{"identifiers":`+dns(names...)+`}`))
		}, malformed},
		{"signature of another key", func(t *testing.T) *http.Response {
			u := c.dir["newOrder"]
			p := b64.EncodeToString([]byte(c.protected(t, u)))
			pl := b64.EncodeToString([]byte(`{"identifiers":` + dns(names...) + `}`))
			return c.post(t, u, []byte(fmt.Sprintf(`{"protected":%q,"payload":%q,"signature":%q}`, p, pl, b64.EncodeToString(sign(newKey(t), p+"."+pl)))))
		}, malformed},
		{"signature truncated", func(t *testing.T) *http.Response {
			u := c.dir["newOrder"]
			p := b64.EncodeToString([]byte(c.protected(t, u)))
			return c.post(t, u, []byte(fmt.Sprintf(`{"protected":%q,"payload":"","signature":"AAAA"}`, p)))
		}, malformed},
		// The JWS's JSON (section 6.2: flattened JSON serialization only).
		{"content type application/json", raw(`{}`, "application/json"), want{status: 415, problem: "malformed"}},
		{"no body", raw(``, "application/jose+json"), malformed},
		{"body not JSON", raw(`not json`, "application/jose+json"), malformed},
		{"body a JSON array", raw(`[]`, "application/jose+json"), malformed},
		{"compact serialization", raw(`eyJhbGciOiJub25lIn0.e30.`, "application/jose+json"), malformed},
		{"general serialization", raw(`{"payload":"e30","signatures":[{"protected":"e30","signature":"AAAA"}]}`, "application/jose+json"), malformed},
		{"duplicate protected member", func(t *testing.T) *http.Response {
			u := c.dir["newOrder"]
			good := string(c.jws(c.protected(t, u), `{"identifiers":`+dns(names...)+`}`))
			return c.post(t, u, []byte(strings.Replace(good, `{"protected":`, `{"protected":"e30","protected":`, 1)))
		}, malformed},
		{"duplicate alg in the protected header", withHeader(`{"alg":"none","alg":"ES256","kid":"KID","nonce":"NONCE","url":"URL"}`), malformed},
		{"protected header not base64url", raw(`{"protected":"!!!","payload":"","signature":"AAAA"}`, "application/jose+json"), malformed},
		{"protected header not JSON", raw(`{"protected":"bm90IGpzb24","payload":"","signature":"AAAA"}`, "application/jose+json"), malformed},
		{"unknown critical header", withHeader(`{"alg":"ES256","kid":"KID","nonce":"NONCE","url":"URL","crit":["b64"],"b64":false}`), malformed},
		{"body of 2 MiB", raw(`{"protected":"`+strings.Repeat("A", 2<<20)+`"}`, "application/jose+json"), want{status: 413, problem: "malformed"}},
		{"payload nested 10001 deep", func(t *testing.T) *http.Response {
			return c.signed(t, c.dir["newOrder"], strings.Repeat("[", 10001)+strings.Repeat("]", 10001))
		}, malformed},
		{"payload invalid UTF-8", func(t *testing.T) *http.Response {
			return c.signed(t, c.dir["newOrder"], "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"\xff\xfe."+names[0]+"\"}]}")
		}, rejected},
		{"payload duplicate keys", func(t *testing.T) *http.Response {
			return c.signed(t, c.dir["newOrder"], `{"identifiers":`+dns(names...)+`,"identifiers":`+dns(other...)+`}`)
		}, malformed},
		// Accounts and EAB (section 7.3, 7.3.4).
		{"newAccount without EAB", func(t *testing.T) *http.Response {
			a := nacct(t)
			return a.signed(t, a.dir["newAccount"], `{"termsOfServiceAgreed":true}`)
		}, want{status: 400, problem: "externalAccountRequired"}},
		{"newAccount EAB wrong MAC", func(t *testing.T) *http.Response {
			a := nacct(t)
			return a.signed(t, a.dir["newAccount"], `{"termsOfServiceAgreed":true,"externalAccountBinding":`+a.eab(e.dev2, []byte("not the key of this EAB kid"))+`}`)
		}, want{status: 401, problem: "unauthorized"}},
		{"newAccount EAB unknown kid", func(t *testing.T) *http.Response {
			a := nacct(t)
			return a.signed(t, a.dir["newAccount"], `{"termsOfServiceAgreed":true,"externalAccountBinding":`+a.eab(&deviceJSON{EABKID: "nosuchkid"}, []byte("k"))+`}`)
		}, want{status: 401, problem: "unauthorized"}},
		{"newAccount EAB used by another key", func(t *testing.T) *http.Response {
			a := nacct(t)
			mac, _ := b64.DecodeString(dev.EABHMACKey)
			return a.signed(t, a.dir["newAccount"], `{"termsOfServiceAgreed":true,"externalAccountBinding":`+a.eab(dev, mac)+`}`)
		}, want{status: 401, problem: "unauthorized"}},
		{"newAccount EAB binding another key", func(t *testing.T) *http.Response {
			a, b := nacct(t), nacct(t)
			mac, _ := b64.DecodeString(e.dev2.EABHMACKey)
			return a.signed(t, a.dir["newAccount"], `{"termsOfServiceAgreed":true,"externalAccountBinding":`+b.eab(e.dev2, mac)+`}`)
		}, want{status: 401, problem: "unauthorized"}},
		{"onlyReturnExisting for no account", func(t *testing.T) *http.Response {
			a := nacct(t)
			return a.signed(t, a.dir["newAccount"], `{"onlyReturnExisting":true}`)
		}, want{status: 400, problem: "accountDoesNotExist"}},
		{"deactivated account orders", func(t *testing.T) *http.Response {
			return dead.signed(t, dead.dir["newOrder"], `{"identifiers":`+dns(e.dev2.Names...)+`}`)
		}, want{status: 401, problem: "unauthorized"}},
		{"deactivated account reads itself", func(t *testing.T) *http.Response { return dead.signed(t, dead.kid, "") }, want{status: 401, problem: "unauthorized"}},
		{"another account's URL", func(t *testing.T) *http.Response {
			return c.signed(t, dead.kid, "")
		}, want{status: 401, problem: "unauthorized"}},
		// Identifiers (section 7.4; names the device does not own).
		{"order another device's names", order(dns(other...)), rejected},
		{"order the zone", order(dns(zone)), rejected},
		{"order a name outside the zone", order(dns("example.com")), rejected},
		// A trailing dot and upper case are normalized, never stored as sent.
		{"order a trailing dot", order(dns(names[0] + ".")), want{status: 201, body: `"value":"` + names[0] + `"}]`}},
		{"order uppercase", order(dns(strings.ToUpper(names[0]))), want{status: 201, body: `"value":"` + names[0] + `"}]`}},
		{"order IDN in Unicode", order(dns("tëst." + names[0])), rejected},
		{"order an empty name", order(dns("")), rejected},
		{"order a name with a raw NUL", order("[{\"type\":\"dns\",\"value\":\"a\x00." + names[0] + "\"}]"), malformed},
		{"order a name with an escaped NUL", order(`[{"type":"dns","value":"a\u0000.` + names[0] + `"}]`), rejected},
		{"order an IP identifier", order(`[{"type":"ip","value":"192.168.1.20"}]`), want{status: 400, problem: "unsupportedIdentifier"}},
		{"order an email identifier", order(`[{"type":"email","value":"a@b.c"}]`), want{status: 400, problem: "unsupportedIdentifier"}},
		{"order no identifiers", order(`[]`), malformed},
		{"order 1000 identifiers", order(dns(strings.Split(strings.Repeat(names[0]+",", 1000), ",")[:1000]...)), want{status: 413, problem: "malformed"}},
		{"order identifiers not a list", order(`"` + names[0] + `"`), malformed},
		{"order a 300-byte label", order(dns(strings.Repeat("a", 300) + "." + names[0])), rejected},
		{"order notAfter garbage", func(t *testing.T) *http.Response {
			return c.signed(t, c.dir["newOrder"], `{"identifiers":`+dns(names...)+`,"notAfter":"tomorrow"}`)
		}, malformed},
		// CSRs at finalize (section 7.4).
		{"csr with an extra name", fin(csr(nil, append([]string{"example.com"}, names...))), want{status: 400, problem: "badCSR"}},
		{"csr with an IP SAN", fin(csr(nil, names, "192.168.1.20")), want{status: 400, problem: "badCSR"}},
		{"csr for another device", fin(csr(nil, other)), want{status: 400, problem: "badCSR"}},
		{"csr for fewer names", fin(csr(nil, names[:1])), want{status: 400, problem: "badCSR"}},
		{"csr not base64url", fin(`!!!`), want{status: 400, problem: "badCSR"}},
		{"csr not DER", fin(b64.EncodeToString([]byte("not a csr"))), want{status: 400, problem: "badCSR"}},
		{"finalize without a csr", func(t *testing.T) *http.Response { return c.signed(t, finalize, `{}`) }, want{status: 400, problem: "badCSR"}},
		{"finalize another account's order", func(t *testing.T) *http.Response {
			a := nacct(t)
			a.kid = dead.kid
			a.key = dead.key
			return a.signed(t, finalize, `{"csr":"`+csr(nil, names)+`"}`)
		}, want{status: 401, problem: "unauthorized"}},
		// Resources and paths.
		{"GET newOrder", func(t *testing.T) *http.Response { return e.request(t, "GET", c.dir["newOrder"], nil) }, want{status: 405, problem: "malformed"}},
		{"order path traversal", func(t *testing.T) *http.Response {
			return c.signed(t, e.base+"/acme/order/%2e%2e%2f%2e%2e%2fissuer.json", "")
		}, want{status: 404, problem: "malformed"}},
		{"order of no such ID", func(t *testing.T) *http.Response { return c.signed(t, e.base+"/acme/order/nosuchorder", "") }, want{status: 404, problem: "malformed"}},
		{"authz of no such ID", func(t *testing.T) *http.Response { return c.signed(t, e.base+"/acme/authz/nosuchauthz", "") }, want{status: 404, problem: "malformed"}},
		{"certificate of no such serial", func(t *testing.T) *http.Response { return c.signed(t, e.base+"/acme/cert/ffff", "") }, want{status: 404, problem: "malformed"}},
		{"certificate path traversal", func(t *testing.T) *http.Response {
			return c.signed(t, e.base+"/acme/cert/..%2f..%2fca%2froot.pem", "")
		}, want{status: 404, problem: "malformed"}},
		{"renewalInfo bad certID", func(t *testing.T) *http.Response { return e.request(t, "GET", c.dir["renewalInfo"]+"/!!!", nil) }, malformed},
		{"renewalInfo certID without a dot", func(t *testing.T) *http.Response {
			return e.request(t, "GET", c.dir["renewalInfo"]+"/aGVsbG8", nil)
		}, malformed},
		{"renewalInfo of another issuer", func(t *testing.T) *http.Response {
			return e.request(t, "GET", c.dir["renewalInfo"]+"/aGVsbG8.AQID", nil)
		}, want{status: 404, problem: "malformed"}},
		{"renewalInfo path traversal", func(t *testing.T) *http.Response {
			return e.request(t, "GET", c.dir["renewalInfo"]+"/..%2f..%2fhealthz", nil)
		}, malformed},
		{"revokeCert of garbage", func(t *testing.T) *http.Response {
			return c.signed(t, c.dir["revokeCert"], `{"certificate":"AAAA"}`)
		}, malformed},
		{"keyChange with garbage inside", func(t *testing.T) *http.Response {
			return c.signed(t, c.dir["keyChange"], `{"protected":"e30","payload":"e30","signature":"AAAA"}`)
		}, want{status: 400, problem: "badSignatureAlgorithm"}},
		{"order URL read with another account's key", func(t *testing.T) *http.Response { return dead.signed(t, orderURL, "") }, want{status: 401, problem: "unauthorized"}},
	}
}

// form posts a form to the issuer.
func (e *env) form(t *testing.T, path string, v url.Values, headers ...string) *http.Response {
	t.Helper()
	return e.request(t, "POST", e.base+path, []byte(v.Encode()), append([]string{"Content-Type", "application/x-www-form-urlencoded"}, headers...)...)
}

// pairingCases are hostile requests to RFC 8628 pairing.
func pairingCases(e *env) []tcase {
	key := jwkForPairing()
	good := func() url.Values {
		return url.Values{"client_id": {"lantls-agent"}, "public_key": {key}, "model": {"m"}, "hostname": {"h"}}
	}
	with := func(k, v string) url.Values { f := good(); f.Set(k, v); return f }
	auth := func(f url.Values) func(t *testing.T) *http.Response {
		return func(t *testing.T) *http.Response { return e.form(t, "/pair/device_authorization", f) }
	}
	tok := func(f url.Values, headers ...string) func(t *testing.T) *http.Response {
		return func(t *testing.T) *http.Response { return e.form(t, "/pair/token", f, headers...) }
	}
	grant := "urn:ietf:params:oauth:grant-type:device_code"
	invalid := want{status: 400, oauth: "invalid_request"}
	return []tcase{
		{"device_authorization by GET", func(t *testing.T) *http.Response {
			return e.request(t, "GET", e.base+"/pair/device_authorization", nil)
		}, want{status: 404}},
		{"device_authorization without public_key", auth(url.Values{"client_id": {"lantls-agent"}}), invalid},
		{"public_key not a JWK", auth(with("public_key", "not a key")), invalid},
		{"public_key symmetric", auth(with("public_key", `{"kty":"oct","k":"AAAA"}`)), invalid},
		{"public_key with a private part", auth(with("public_key", strings.Replace(key, `"kty"`, `"d":"AAAA","kty"`, 1))), invalid},
		{"model of 10 kB", auth(with("model", strings.Repeat("m", 10000))), invalid},
		{"hostname invalid UTF-8", auth(with("hostname", "tv\xff")), invalid},
		{"hostname with control bytes", auth(with("hostname", "tv\x1b[31m")), invalid},
		{"client_id twice", auth(url.Values{"client_id": {"a", "b"}, "public_key": {key}}), invalid},
		{"device_authorization as JSON", func(t *testing.T) *http.Response {
			return e.request(t, "POST", e.base+"/pair/device_authorization", []byte(`{"client_id":"lantls-agent"}`), "Content-Type", "application/json")
		}, invalid},
		{"device_authorization body of 1 MiB", auth(with("model", strings.Repeat("m", 1<<20))), invalid},
		{"token with an unknown grant", tok(url.Values{"grant_type": {"password"}, "device_code": {"x"}, "client_id": {"lantls-agent"}}), want{status: 400, oauth: "unsupported_grant_type"}},
		{"token without device_code", tok(url.Values{"grant_type": {grant}, "client_id": {"lantls-agent"}}), invalid},
		{"token with an unknown device_code", tok(url.Values{"grant_type": {grant}, "device_code": {"nosuchcode"}, "client_id": {"lantls-agent"}}), want{status: 400, oauth: "invalid_grant"}},
		{"token from a cross-site form", tok(url.Values{"grant_type": {grant}, "device_code": {"nosuchcode"}, "client_id": {"lantls-agent"}},
			"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"), want{status: 400, oauth: "invalid_grant"}},
		{"token device_code of 10 kB", tok(url.Values{"grant_type": {grant}, "device_code": {strings.Repeat("a", 10000)}, "client_id": {"lantls-agent"}}), invalid},
	}
}

// deviceAPICases are hostile requests to the device API, with token a
// valid bearer token of a paired device.
func deviceAPICases(e *env, token string) []tcase {
	put := func(path, body string, headers ...string) func(t *testing.T) *http.Response {
		return func(t *testing.T) *http.Response {
			h := append([]string{"Content-Type", "application/json"}, headers...)
			if token != "" && !slicesContains(headers, "Authorization") {
				h = append(h, "Authorization", "Bearer "+token)
			}
			return e.request(t, "PUT", e.base+path, []byte(body), h...)
		}
	}
	unauth := want{status: 401, problem: "unauthorized"}
	malformed := want{status: 400, problem: "malformed"}
	return []tcase{
		{"addresses without a token", func(t *testing.T) *http.Response {
			return e.request(t, "PUT", e.base+"/api/v1/device/addresses", []byte(`{"addresses":[]}`), "Content-Type", "application/json")
		}, unauth},
		{"addresses with a wrong token", put("/api/v1/device/addresses", `{"addresses":[]}`, "Authorization", "Bearer lantls_at_wrong"), unauth},
		{"addresses with Basic auth", put("/api/v1/device/addresses", `{"addresses":[]}`, "Authorization", "Basic YTpi"), unauth},
		{"status without a token", func(t *testing.T) *http.Response {
			return e.request(t, "PUT", e.base+"/api/v1/device/status", []byte(`{"last_error":""}`), "Content-Type", "application/json")
		}, unauth},
		{"policy without a token", func(t *testing.T) *http.Response { return e.request(t, "GET", e.base+"/api/v1/device/policy", nil) }, unauth},
		{"token rotation without a token", func(t *testing.T) *http.Response { return e.request(t, "POST", e.base+"/api/v1/device/token", nil) }, unauth},
		{"a public address", put("/api/v1/device/addresses", `{"addresses":["8.8.8.8"]}`), malformed},
		{"an address with a zone", put("/api/v1/device/addresses", `{"addresses":["fe80::1%eth0"]}`), malformed},
		{"addresses twice", put("/api/v1/device/addresses", `{"addresses":["192.168.1.20"],"addresses":["10.0.0.1"]}`), malformed},
		{"addresses nested deep", put("/api/v1/device/addresses", `{"addresses":`+strings.Repeat("[", 50000)+strings.Repeat("]", 50000)+`}`), malformed},
		{"addresses invalid UTF-8", put("/api/v1/device/addresses", "{\"addresses\":[\"\xff\"]}"), malformed},
		{"addresses unknown field", put("/api/v1/device/addresses", `{"addresses":[],"admin":true}`), malformed},
		{"addresses 1000 of them", put("/api/v1/device/addresses", `{"addresses":["`+strings.Repeat(`192.168.1.1","`, 999)+`192.168.1.1"]}`), malformed},
		{"addresses body of 1 MiB", put("/api/v1/device/addresses", `{"addresses":["`+strings.Repeat("1", 1<<20)+`"]}`), malformed},
		{"addresses as text/plain", put("/api/v1/device/addresses", `{"addresses":[]}`, "Content-Type", "text/plain"), malformed},
		{"status error of 1 MiB", put("/api/v1/device/status", `{"last_error":"`+strings.Repeat("e", 1<<20)+`"}`), malformed},
		{"status not JSON", put("/api/v1/device/status", `last_error=x`), malformed},
	}
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// webCases are hostile requests to the owner UI; b is a logged-in browser
// (cookies and CSRF token of alice).
func webCases(e *env, b *browser, remoteCode string) []tcase {
	redirect := func(next string) func(t *testing.T) *http.Response {
		return func(t *testing.T) *http.Response { return b.get(t, "/login?next="+url.QueryEscape(next)) }
	}
	home := want{status: 303, location: "/"}
	forbidden := want{status: 403}
	return []tcase{
		{"login without a CSRF token", func(t *testing.T) *http.Response {
			return e.form(t, "/login", url.Values{"name": {"alice"}, "password": {password}})
		}, forbidden},
		{"login from another site", func(t *testing.T) *http.Response {
			return b.post(t, "/login", url.Values{"name": {"alice"}, "password": {password}}, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
		}, forbidden},
		{"rename without a CSRF token", func(t *testing.T) *http.Response {
			return b.postNoCSRF(t, "/devices/"+e.dev.ID+"/rename", url.Values{"name": {"pwned"}})
		}, forbidden},
		{"unpair without a CSRF token", func(t *testing.T) *http.Response {
			return b.postNoCSRF(t, "/devices/"+e.dev.ID+"/unpair", nil)
		}, forbidden},
		{"next //evil.example", redirect("//evil.example"), home},
		{"next /\\evil.example", redirect("/\\evil.example"), home},
		{"next /<tab>/evil.example", redirect("/\t/evil.example"), home},
		{"next https://evil.example", redirect("https://evil.example"), home},
		{"next javascript:", redirect("javascript:alert(1)"), home},
		{"next with CRLF", redirect("/\r\nSet-Cookie: x=y"), home},
		{"another owner's device", func(t *testing.T) *http.Response { return b.get(t, "/devices/"+e.dev2.ID) }, want{status: 404}},
		{"renaming another owner's device", func(t *testing.T) *http.Response {
			return b.post(t, "/devices/"+e.dev2.ID+"/rename", url.Values{"name": {"pwned"}})
		}, want{status: 404}},
		{"device path traversal", func(t *testing.T) *http.Response { return b.get(t, "/devices/..%2f..%2fetc%2fpasswd") }, want{status: 404}},
		{"static path traversal", func(t *testing.T) *http.Response { return b.get(t, "/static/..%2f..%2fgo.mod") }, want{status: 404}},
		{"passkey without the password", func(t *testing.T) *http.Response {
			return b.postJSON(t, "/account/passkeys/begin", `{}`)
		}, want{status: 400, body: "Enter your password"}},
		{"passkey removal of none", func(t *testing.T) *http.Response { return b.post(t, "/account/passkeys/AAAA/delete", nil) }, want{status: 404}},
		{"login form of 1 MiB", func(t *testing.T) *http.Response {
			return b.post(t, "/login", url.Values{"name": {strings.Repeat("a", 1<<20)}})
		}, want{status: 400}},
		{"login name invalid UTF-8", func(t *testing.T) *http.Response {
			return b.post(t, "/login", url.Values{"name": {"al\xffice"}, "password": {"x"}})
		}, want{status: 401}},
		{"code entry of 10 kB", func(t *testing.T) *http.Response {
			return b.post(t, "/device", url.Values{"user_code": {strings.Repeat("B", 10000)}})
		}, want{status: 400}},
		// What is approved, and where it came from (RFC 10027): the
		// agent beside the browser, and a code someone sent from afar.
		{"approval page of the device beside the browser", func(t *testing.T) *http.Response {
			return b.post(t, "/device", url.Values{"user_code": {e.userCode}})
		}, want{status: 200, body: "badinput TV", absent: "another network"}},
		{"approval page of a request from another network", func(t *testing.T) *http.Response {
			return b.post(t, "/device", url.Values{"user_code": {remoteCode}})
		}, want{status: 200, body: "another network"}},
		{"session fixation", func(t *testing.T) *http.Response {
			planted := "plantedplantedplantedplantedplantedplanted"
			f := newBrowser(t, e)
			f.get(t, "/login").Body.Close()
			resp := f.post(t, "/login", url.Values{"name": {"alice"}, "password": {password}}, "Cookie", "__Host-lantls-session="+planted)
			for _, c := range resp.Cookies() {
				if c.Name == "__Host-lantls-session" && c.Value == planted {
					t.Error("the planted session cookie was kept")
				}
			}
			return resp
		}, want{status: 303, location: "/"}},
	}
}

// caCases are hostile requests to the CA files, on both listeners.
func caCases(e *env) []tcase {
	return []tcase{
		{"POST the CRL", func(t *testing.T) *http.Response { return e.request(t, "POST", e.base+"/ca/crl", nil) }, want{status: 404}},
		{"CA path traversal", func(t *testing.T) *http.Response { return e.request(t, "GET", e.base+"/ca/%2e%2e/issuer.json", nil) }, want{status: 404}},
		{"CA path traversal over plain HTTP", func(t *testing.T) *http.Response {
			return e.request(t, "GET", e.httpBase+"/ca/%2e%2e%2f%2e%2e%2fissuer.json", nil)
		}, want{status: 308}},
		// 127.0.0.1 is a trusted proxy here: its client is not local.
		{"metrics for a proxy's client", func(t *testing.T) *http.Response {
			return e.request(t, "GET", e.base+"/metrics", nil, "X-Forwarded-For", "203.0.113.9")
		}, want{status: 404}},
		{"metrics for a made-up proxy chain", func(t *testing.T) *http.Response {
			return e.request(t, "GET", e.base+"/metrics", nil, "X-Forwarded-For", "127.0.0.1, 203.0.113.9")
		}, want{status: 404}},
	}
}

// jwkForPairing is a fresh P-256 public key as a JWK.
func jwkForPairing() string {
	k, _ := newKeyNoT()
	return jwk(k)
}
