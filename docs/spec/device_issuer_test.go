package spec_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"flag"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/crypto/acme"

	"github.com/lantls/lantls/docs/spec"
	"github.com/lantls/lantls/issuer"
	"github.com/lantls/lantls/issuer/issuertest"
)

var update = flag.Bool("update", false, "rewrite the specifications' examples from the running server")

// clock is the issuer's time: the real time plus an offset the test moves
// forward, so a device can wait out the polling interval without sleeping.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// session is a running issuer, a client that records what it sends, and
// the rendering of its exchanges under their example names.
type session struct {
	t    *testing.T
	iss  *issuer.Issuer
	base string
	http *http.Client
	rec  *spec.Recorder
	sub  *spec.Subst
	got  map[string]string
}

const exampleHost = "issuer.lan.test"

func newSession(t *testing.T, c *clock) *session {
	iss, roots := issuertest.Start(t, issuer.Config{Now: c.Now})
	rec := &spec.Recorder{Next: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	s := &session{
		t:    t,
		iss:  iss,
		base: iss.Info().BaseURL,
		http: &http.Client{Transport: rec, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		rec:  rec,
		sub:  &spec.Subst{},
		got:  map[string]string{},
	}
	s.sub.Add(s.base, "https://"+exampleHost)
	s.sub.Add(iss.Info().FilesURL, "http://"+exampleHost)
	return s
}

// show names the latest exchange of method on path as an example.
func (s *session) show(name, method, path string) {
	s.t.Helper()
	e := s.rec.Last(method, path)
	if e == nil {
		s.t.Fatalf("example %s: no %s %s was made", name, method, path)
	}
	for _, x := range s.rec.All() {
		for _, n := range x.Response.Header.Values("Replay-Nonce") {
			s.sub.Add(n, "<nonce>")
		}
	}
	s.got[name] = s.sub.Apply(spec.Render(e, exampleHost))
}

// do sends a request and returns the response with its body decoded into
// out (if not nil); it fails the test unless the status is want.
func (s *session) do(req *http.Request, want int, out any) *http.Response {
	s.t.Helper()
	resp, err := s.http.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	for _, n := range resp.Header.Values("Replay-Nonce") {
		s.sub.Add(n, "<nonce>")
	}
	if resp.StatusCode != want {
		e := s.rec.Last(req.Method, req.URL.Path)
		s.t.Fatalf("%s %s: %s, want %d: %s", req.Method, req.URL.Path, resp.Status, want, e.ResponseBody)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			s.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
		}
	}
	return resp
}

func (s *session) form(path string, v url.Values, want int, out any) {
	s.t.Helper()
	req, _ := http.NewRequest("POST", s.base+path, strings.NewReader(encodeInOrder(v)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	s.do(req, want, out)
}

// encodeInOrder encodes a form with its fields in the order RFC 8628's
// examples use (grant_type first), then the rest sorted.
func encodeInOrder(v url.Values) string {
	var parts []string
	for _, k := range []string{"grant_type", "device_code", "client_id", "public_key", "model", "hostname"} {
		for _, x := range v[k] {
			parts = append(parts, url.QueryEscape(k)+"="+url.QueryEscape(x))
		}
	}
	return strings.Join(parts, "&")
}

func (s *session) bearer(method, path, token, contentType, body string, want int, out any) *http.Response {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.base+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return s.do(req, want, out)
}

func (s *session) check(file string) {
	s.t.Helper()
	msgs, err := spec.Check(file, s.got, *update)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, m := range msgs {
		s.t.Error(m)
	}
}

// publicJWK is the form a device sends its account key in.
func publicJWK(t *testing.T, key *ecdsa.PrivateKey, sub *spec.Subst, name string) string {
	b, err := json.Marshal(jose.JSONWebKey{Key: key.Public()})
	if err != nil {
		t.Fatal(err)
	}
	sub.Add(base64.RawURLEncoding.EncodeToString(key.X.FillBytes(make([]byte, 32))), "<"+name+"-x>")
	sub.Add(base64.RawURLEncoding.EncodeToString(key.Y.FillBytes(make([]byte, 32))), "<"+name+"-y>")
	return string(b)
}

// TestDeviceIssuerExamples makes every exchange that device-issuer.md
// shows, against a real issuer, in the order a device makes them.
func TestDeviceIssuerExamples(t *testing.T) {
	c := &clock{}
	s := newSession(t, c)
	ctx := t.Context()

	// Pairing (RFC 8628).
	accountKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwk := publicJWK(t, accountKey, s.sub, "account-key")
	var da struct {
		DeviceCode string `json:"device_code"`
		UserCode   string `json:"user_code"`
	}
	s.form("/pair/device_authorization", url.Values{
		"client_id": {"lantls-agent"}, "public_key": {jwk},
		"model": {"Example TV 55"}, "hostname": {"tv-living-room"},
	}, 200, &da)
	s.sub.Add(da.DeviceCode, "<device-code>")
	s.sub.Add(da.UserCode, "<user-code>")
	s.show("pair-authorization", "POST", "/pair/device_authorization")

	poll := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {da.DeviceCode}, "client_id": {"lantls-agent"}}
	s.form("/pair/token", poll, 400, nil)
	s.show("pair-token-pending", "POST", "/pair/token")
	s.form("/pair/token", poll, 400, nil) // at once: too soon
	s.show("pair-token-slow-down", "POST", "/pair/token")

	owner, err := s.iss.Store().EnsureOwner(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.iss.Pairing().Approve(ctx, da.UserCode, owner.ID, "user alice"); err != nil {
		t.Fatal(err)
	}
	c.Add(7 * time.Second) // the interval, grown by slow_down
	var tok struct {
		AccessToken string `json:"access_token"`
		Lantls      struct {
			Directory  string   `json:"directory"`
			EABKID     string   `json:"eab_kid"`
			EABHMACKey string   `json:"eab_hmac_key"`
			Label      string   `json:"label"`
			Names      []string `json:"names"`
		} `json:"lantls"`
	}
	s.form("/pair/token", poll, 200, &tok)
	s.sub.Add(tok.AccessToken, "<access-token>")
	s.sub.Add(tok.Lantls.EABKID, "<eab-kid>")
	s.sub.Add(tok.Lantls.EABHMACKey, "<eab-hmac-key>")
	s.sub.Add(tok.Lantls.Label, "<label>")
	s.show("pair-token-approved", "POST", "/pair/token")
	s.form("/pair/token", poll, 400, nil)
	s.show("pair-token-used", "POST", "/pair/token")

	denyKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var denied struct {
		DeviceCode string `json:"device_code"`
		UserCode   string `json:"user_code"`
	}
	s.form("/pair/device_authorization", url.Values{
		"client_id": {"lantls-agent"}, "public_key": {publicJWK(t, denyKey, s.sub, "other-key")},
	}, 200, &denied)
	s.sub.Add(denied.DeviceCode, "<other-device-code>")
	if err := s.iss.Pairing().Deny(ctx, denied.UserCode, "user alice"); err != nil {
		t.Fatal(err)
	}
	s.form("/pair/token", url.Values{"grant_type": poll["grant_type"], "device_code": {denied.DeviceCode}, "client_id": {"lantls-agent"}}, 400, nil)
	s.show("pair-token-denied", "POST", "/pair/token")

	// The device API.
	resp := s.bearer("GET", "/api/v1/device/policy", tok.AccessToken, "", "", 200, nil)
	s.sub.Add(resp.Header.Get("ETag"), `"<etag>"`)
	s.show("device-policy", "GET", "/api/v1/device/policy")
	req, _ := http.NewRequest("GET", s.base+"/api/v1/device/policy", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
	s.do(req, 304, nil)
	s.show("device-policy-not-modified", "GET", "/api/v1/device/policy")
	s.bearer("GET", "/api/v1/device/policy", "", "", "", 401, nil)
	s.show("device-unauthorized", "GET", "/api/v1/device/policy")
	s.bearer("PUT", "/api/v1/device/addresses", tok.AccessToken, "application/json", `{"addresses":["192.168.1.20","fd00::1:20"]}`, 200, nil)
	s.show("device-addresses", "PUT", "/api/v1/device/addresses")
	s.bearer("PUT", "/api/v1/device/addresses", tok.AccessToken, "application/json", `{"addresses":["203.0.113.7"]}`, 400, nil)
	s.show("device-addresses-refused", "PUT", "/api/v1/device/addresses")
	s.bearer("PUT", "/api/v1/device/status", tok.AccessToken, "application/json", `{"last_error":"renew: connection refused","at":"2026-12-07T10:00:00Z"}`, 204, nil)
	s.show("device-status", "PUT", "/api/v1/device/status")
	var rotated struct {
		AccessToken string `json:"access_token"`
	}
	s.bearer("POST", "/api/v1/device/token", tok.AccessToken, "", "", 200, &rotated)
	s.sub.Add(rotated.AccessToken, "<new-access-token>")
	s.show("device-token", "POST", "/api/v1/device/token")

	// ACME (RFC 8555) with the credentials, through an independent client.
	s.acmeExamples(ctx, accountKey, tok.Lantls.Directory, tok.Lantls.EABKID, tok.Lantls.EABHMACKey, tok.Lantls.Names)

	s.check("device-issuer.md")
}

func (s *session) acmeExamples(ctx context.Context, key *ecdsa.PrivateKey, directory, kid, hmacKey string, names []string) {
	t := s.t
	s.bearer("GET", "/acme/directory", "", "", "", 200, nil)
	s.show("acme-directory", "GET", "/acme/directory")
	s.bearer("HEAD", "/acme/new-nonce", "", "", "", 200, nil)
	s.show("acme-new-nonce", "HEAD", "/acme/new-nonce")
	mac, err := base64.RawURLEncoding.DecodeString(hmacKey)
	if err != nil {
		t.Fatal(err)
	}
	cl := &acme.Client{Key: key, DirectoryURL: directory, HTTPClient: s.http, UserAgent: "lantls-agent"}
	if _, err := cl.Register(ctx, &acme.Account{ExternalAccountBinding: &acme.ExternalAccountBinding{KID: kid, Key: mac}}, acme.AcceptTOS); err != nil {
		t.Fatal(err)
	}
	s.show("acme-new-account", "POST", "/acme/new-account")

	if _, err := cl.AuthorizeOrder(ctx, acme.DomainIDs("printer.lan.test")); err == nil {
		t.Fatal("an order for a name the device does not own was accepted")
	}
	s.show("acme-new-order-rejected", "POST", "/acme/new-order")

	order, err := cl.AuthorizeOrder(ctx, acme.DomainIDs(names...))
	if err != nil {
		t.Fatal(err)
	}
	s.show("acme-new-order", "POST", "/acme/new-order")
	authz, err := cl.GetAuthorization(ctx, order.AuthzURLs[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range authz.Challenges {
		s.sub.Add(ch.Token, "<token>")
	}
	s.show("acme-authz", "POST", "/acme/authz/")

	certKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: names}, certKey)
	if err != nil {
		t.Fatal(err)
	}
	s.sub.Add(base64.RawURLEncoding.EncodeToString(csr), "<csr>")
	der, _, err := cl.CreateCertFromOrder(ctx, order, csr, true)
	if err != nil {
		t.Fatal(err)
	}
	s.show("acme-finalize", "POST", "/acme/order/")
	s.show("acme-certificate", "POST", "/acme/cert/")

	leaf, err := x509.ParseCertificate(der[0])
	if err != nil {
		t.Fatal(err)
	}
	s.bearer("GET", "/acme/renewal-info/"+ariCertID(t, leaf), "", "", "", 200, nil)
	s.show("acme-renewal-info", "GET", "/acme/renewal-info/")

	s.sub.Add(base64.RawURLEncoding.EncodeToString(der[0]), "<certificate>")
	if err := cl.RevokeCert(ctx, nil, der[0], acme.CRLReasonKeyCompromise); err != nil {
		t.Fatal(err)
	}
	s.show("acme-revoke", "POST", "/acme/revoke-cert")
}

// ariCertID is a certificate's ARI identifier (RFC 9773 section 4.1): the
// base64url authority key identifier, a dot, the base64url DER serial.
func ariCertID(t *testing.T, c *x509.Certificate) string {
	serial, err := asn1.Marshal(c.SerialNumber)
	if err != nil {
		t.Fatal(err)
	}
	// The DER of an INTEGER is tag, length, then the value bytes.
	return base64.RawURLEncoding.EncodeToString(c.AuthorityKeyId) + "." + base64.RawURLEncoding.EncodeToString(serial[2:])
}
