package acme_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/lantls/lantls/acme/internal/acmetest"
	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
)

// TestProblems sends one bad request per case and checks the problem type
// and HTTP status, and the headers every ACME response carries.
func TestProblems(t *testing.T) {
	h := newHarness(t)
	ctx := h.ctx
	dev := h.newDevice("")
	c := h.account(dev)
	base := dev.name("")
	orderPayload := map[string]any{"identifiers": dnsIDs(base)}

	// must turns a transport error into a response that fails the case.
	must := func(res *acmetest.Response, err error) *acmetest.Response {
		if err != nil {
			return &acmetest.Response{Status: -1, Header: http.Header{}, Body: []byte(err.Error())}
		}
		return res
	}
	expect := func(t *testing.T, res *acmetest.Response, err error, status int) {
		t.Helper()
		if err != nil || res.Status != status {
			t.Fatalf("setup: got %v %v, want status %d", res, err, status)
		}
	}
	otherDev := h.newDevice("")
	other := h.account(otherDev)
	var usedNonce string

	tests := []struct {
		name   string
		do     func(t *testing.T) *acmetest.Response
		kind   problem.Kind
		status int
		check  func(t *testing.T, res *acmetest.Response, p *acmetest.Problem)
	}{
		{
			name: "garbled nonce",
			do: func(t *testing.T) *acmetest.Response {
				return must(c.Do(ctx, acmetest.Request{URL: c.Dir.NewOrder, Payload: orderPayload, Nonce: "garbled"}))
			},
			kind: problem.BadNonce, status: 400,
		},
		{
			name: "reused nonce",
			do: func(t *testing.T) *acmetest.Response {
				n, err := c.Nonce(ctx)
				if err != nil {
					t.Fatal(err)
				}
				usedNonce = n
				res, err := c.Do(ctx, acmetest.Request{URL: c.KID, Nonce: n})
				expect(t, res, err, 200)
				return must(c.Do(ctx, acmetest.Request{URL: c.KID, Nonce: n}))
			},
			kind: problem.BadNonce, status: 400,
		},
		{
			name: "missing nonce",
			do: func(t *testing.T) *acmetest.Response {
				return must(c.Do(ctx, acmetest.Request{URL: c.KID, NoNonce: true}))
			},
			kind: problem.BadNonce, status: 400,
		},
		{
			name: "wrong url header",
			do: func(t *testing.T) *acmetest.Response {
				return must(c.Do(ctx, acmetest.Request{URL: c.Dir.NewOrder, Payload: orderPayload, HeaderURL: c.Dir.NewAccount}))
			},
			kind: problem.Unauthorized, status: 401,
		},
		{
			name: "unknown kid",
			do: func(t *testing.T) *acmetest.Response {
				return must(c.Do(ctx, acmetest.Request{URL: c.Dir.NewOrder, Payload: orderPayload, KID: h.ts.URL + "/acme/account/0000"}))
			},
			kind: problem.AccountDoesNotExist, status: 400,
		},
		{
			name: "jwk where kid is required",
			do: func(t *testing.T) *acmetest.Response {
				return must(c.Do(ctx, acmetest.Request{URL: c.Dir.NewOrder, Payload: orderPayload, JWK: true}))
			},
			kind: problem.Malformed, status: 400,
		},
		{
			name: "compact serialization",
			do: func(t *testing.T) *acmetest.Response {
				return must(c.Do(ctx, acmetest.Request{URL: c.Dir.NewOrder, Body: []byte("eyJhbGciOiJFUzI1NiJ9.e30.AAAA")}))
			},
			kind: problem.Malformed, status: 400,
		},
		{
			name: "bad signature",
			do: func(t *testing.T) *acmetest.Response {
				return must(c.Do(ctx, acmetest.Request{URL: c.Dir.NewOrder, Payload: orderPayload, Key: newKey(t)}))
			},
			kind: problem.Malformed, status: 400,
		},
		{
			name: "HS256",
			do: func(t *testing.T) *acmetest.Response {
				n, _ := c.Nonce(ctx)
				f, err := acmetest.Sign(dev.eabKey, "HS256", map[string]any{"kid": c.KID, "nonce": n, "url": c.Dir.NewOrder}, []byte("{}"))
				if err != nil {
					t.Fatal(err)
				}
				return must(c.Do(ctx, acmetest.Request{URL: c.Dir.NewOrder, Body: f.JSON()}))
			},
			kind: problem.BadSignatureAlgorithm, status: 400,
			check: func(t *testing.T, res *acmetest.Response, p *acmetest.Problem) {
				if strings.Join(p.Algorithms, ",") != "ES256,ES384,RS256,EdDSA" {
					t.Errorf("algorithms = %v", p.Algorithms)
				}
			},
		},
		{
			name: "alg that does not suit the account key",
			do: func(t *testing.T) *acmetest.Response {
				return must(c.Do(ctx, acmetest.Request{URL: c.Dir.NewOrder, Payload: orderPayload, Alg: "ES384"}))
			},
			kind: problem.BadSignatureAlgorithm, status: 400,
		},
		{
			name: "payload not an object",
			do: func(t *testing.T) *acmetest.Response {
				return must(c.Post(ctx, c.Dir.NewOrder, []byte("[1]")))
			},
			kind: problem.Malformed, status: 400,
		},
		{
			name: "POST-as-GET to new-order",
			do: func(t *testing.T) *acmetest.Response {
				return must(c.Post(ctx, c.Dir.NewOrder, nil))
			},
			kind: problem.Malformed, status: 400,
		},
		{
			name: "payload on a POST-as-GET resource",
			do: func(t *testing.T) *acmetest.Response {
				return must(c.Post(ctx, c.KID+"/orders", map[string]any{}))
			},
			kind: problem.Malformed, status: 400,
		},
		{
			name: "wrong Content-Type",
			do: func(t *testing.T) *acmetest.Response {
				return must(c.Do(ctx, acmetest.Request{URL: c.Dir.NewOrder, Payload: orderPayload, ContentType: "application/json"}))
			},
			kind: problem.Malformed, status: 415,
		},
		{
			name: "body too large",
			do: func(t *testing.T) *acmetest.Response {
				return must(c.Do(ctx, acmetest.Request{URL: c.Dir.NewOrder, Payload: map[string]string{"x": strings.Repeat("a", 70<<10)}}))
			},
			kind: problem.Malformed, status: 413,
		},
		{
			name: "GET on new-order",
			do: func(t *testing.T) *acmetest.Response {
				return get(t, h, c.Dir.NewOrder)
			},
			kind: problem.Malformed, status: 405,
			check: func(t *testing.T, res *acmetest.Response, p *acmetest.Problem) {
				if res.Header.Get("Allow") != "POST" {
					t.Errorf("Allow = %q", res.Header.Get("Allow"))
				}
			},
		},
		{
			name: "GET on an order",
			do: func(t *testing.T) *acmetest.Response {
				return get(t, h, h.newOrder(c, orderPayload).URL)
			},
			kind: problem.Malformed, status: 405,
		},
		{
			name: "unknown resource",
			do: func(t *testing.T) *acmetest.Response {
				return must(c.Post(ctx, h.ts.URL+"/acme/nothing-here", nil))
			},
			kind: problem.Malformed, status: 404,
		},
		{
			name: "missing EAB",
			do: func(t *testing.T) *acmetest.Response {
				n := h.client(nil)
				return must(n.Do(ctx, acmetest.Request{URL: n.Dir.NewAccount, JWK: true, Payload: map[string]any{"termsOfServiceAgreed": true}}))
			},
			kind: problem.ExternalAccountRequired, status: 400,
		},
		{
			name: "wrong EAB MAC",
			do: func(t *testing.T) *acmetest.Response {
				d := h.newDevice("")
				wrong := append([]byte(nil), d.eabKey...)
				wrong[0] ^= 1
				return must(h.client(nil).Register(ctx, d.eabKID, wrong))
			},
			kind: problem.Unauthorized, status: 401,
		},
		{
			name: "reused EAB",
			do: func(t *testing.T) *acmetest.Response {
				return must(h.client(nil).Register(ctx, dev.eabKID, dev.eabKey))
			},
			kind: problem.Unauthorized, status: 401,
			check: func(t *testing.T, res *acmetest.Response, p *acmetest.Problem) {
				if !strings.Contains(p.Detail, "already used") {
					t.Errorf("detail = %q", p.Detail)
				}
			},
		},
		{
			name: "unknown EAB kid",
			do: func(t *testing.T) *acmetest.Response {
				return must(h.client(nil).Register(ctx, "no-such-kid", dev.eabKey))
			},
			kind: problem.Unauthorized, status: 401,
		},
		{
			name: "EAB binds another key",
			do: func(t *testing.T) *acmetest.Response {
				d := h.newDevice("")
				eab, err := h.client(nil).Binding(d.eabKID, d.eabKey, "")
				if err != nil {
					t.Fatal(err)
				}
				n := h.client(nil)
				return must(n.Do(ctx, acmetest.Request{URL: n.Dir.NewAccount, JWK: true, Payload: map[string]any{"externalAccountBinding": eab}}))
			},
			kind: problem.Unauthorized, status: 401,
		},
		{
			name: "device paired with another key",
			do: func(t *testing.T) *acmetest.Response {
				d := h.newDevice(acmetest.Thumbprint(newKey(t).Public()))
				return must(h.client(nil).Register(ctx, d.eabKID, d.eabKey))
			},
			kind: problem.Unauthorized, status: 401,
			check: func(t *testing.T, res *acmetest.Response, p *acmetest.Problem) {
				if p.Detail != "this device was paired with a different key" {
					t.Errorf("detail = %q", p.Detail)
				}
			},
		},
		{
			name: "unsupported contact",
			do: func(t *testing.T) *acmetest.Response {
				d := h.newDevice("")
				n := h.client(nil)
				eab, _ := n.Binding(d.eabKID, d.eabKey, "")
				return must(n.Do(ctx, acmetest.Request{URL: n.Dir.NewAccount, JWK: true, Payload: map[string]any{
					"contact": []string{"tel:+15551234567"}, "externalAccountBinding": eab,
				}}))
			},
			kind: problem.UnsupportedContact, status: 400,
		},
		{
			name: "contact with two addresses",
			do: func(t *testing.T) *acmetest.Response {
				return must(c.Post(ctx, c.KID, map[string]any{"contact": []string{"mailto:a@example.test,b@example.test"}}))
			},
			kind: problem.InvalidContact, status: 400,
		},
		{
			name: "account status other than deactivated",
			do: func(t *testing.T) *acmetest.Response {
				return must(c.Post(ctx, c.KID, map[string]any{"status": "revoked"}))
			},
			kind: problem.Malformed, status: 400,
		},
		{
			name: "another account's URL",
			do: func(t *testing.T) *acmetest.Response {
				return must(c.Post(ctx, other.KID, nil))
			},
			kind: problem.Unauthorized, status: 401,
		},
		{
			name: "deactivated account",
			do: func(t *testing.T) *acmetest.Response {
				d := h.account(dev)
				res, err := d.Post(ctx, d.KID, map[string]string{"status": "deactivated"})
				expect(t, res, err, 200)
				return must(d.Post(ctx, d.Dir.NewOrder, orderPayload))
			},
			kind: problem.Unauthorized, status: 401,
		},
		{
			name: "revoked device",
			do: func(t *testing.T) *acmetest.Response {
				d := h.newDevice("")
				a := h.account(d)
				d.Status = store.StatusRevoked
				if err := h.store.UpdateDevice(ctx, d.Device); err != nil {
					t.Fatal(err)
				}
				return must(a.Post(ctx, a.Dir.NewOrder, map[string]any{"identifiers": dnsIDs(d.name(""))}))
			},
			kind: problem.Unauthorized, status: 401,
		},
		{
			name: "names outside the device",
			do: func(t *testing.T) *acmetest.Response {
				return must(c.Post(ctx, c.Dir.NewOrder, map[string]any{
					"identifiers": dnsIDs(base, otherDev.name(""), "printer.example.com"),
				}))
			},
			kind: problem.RejectedIdentifier, status: 400,
			check: func(t *testing.T, res *acmetest.Response, p *acmetest.Problem) {
				if len(p.Subproblems) != 2 {
					t.Fatalf("subproblems = %d, want 2", len(p.Subproblems))
				}
				for i, want := range []string{otherDev.name(""), "printer.example.com"} {
					sp := p.Subproblems[i]
					if sp.Type != problem.URNPrefix+string(problem.RejectedIdentifier) || sp.Identifier == nil || sp.Identifier.Value != want {
						t.Errorf("subproblem %d = %+v", i, sp)
					}
				}
			},
		},
		{
			name: "invalid DNS name",
			do: func(t *testing.T) *acmetest.Response {
				return must(c.Post(ctx, c.Dir.NewOrder, map[string]any{"identifiers": dnsIDs("bad_name." + base)}))
			},
			kind: problem.RejectedIdentifier, status: 400,
		},
		{
			name: "ip identifier",
			do: func(t *testing.T) *acmetest.Response {
				return must(c.Post(ctx, c.Dir.NewOrder, map[string]any{
					"identifiers": []store.Identifier{{Type: "ip", Value: "192.168.1.20"}},
				}))
			},
			kind: problem.UnsupportedIdentifier, status: 400,
			check: func(t *testing.T, res *acmetest.Response, p *acmetest.Problem) {
				if len(p.Subproblems) != 1 || p.Subproblems[0].Identifier.Type != "ip" {
					t.Errorf("subproblems = %+v", p.Subproblems)
				}
			},
		},
		{
			name: "no identifiers",
			do: func(t *testing.T) *acmetest.Response {
				return must(c.Post(ctx, c.Dir.NewOrder, map[string]any{"identifiers": []store.Identifier{}}))
			},
			kind: problem.Malformed, status: 400,
		},
		{
			name: "too many identifiers",
			do: func(t *testing.T) *acmetest.Response {
				var names []string
				for i := range 101 {
					names = append(names, dev.name(fmt.Sprintf("n%d", i)))
				}
				return must(c.Post(ctx, c.Dir.NewOrder, map[string]any{"identifiers": dnsIDs(names...)}))
			},
			kind: problem.Malformed, status: 400,
		},
		{
			name: "notBefore",
			do: func(t *testing.T) *acmetest.Response {
				return must(c.Post(ctx, c.Dir.NewOrder, map[string]any{"identifiers": dnsIDs(base), "notBefore": "2030-01-01T00:00:00Z"}))
			},
			kind: problem.Malformed, status: 400,
		},
		{
			name: "unknown profile",
			do: func(t *testing.T) *acmetest.Response {
				return must(c.Post(ctx, c.Dir.NewOrder, map[string]any{"identifiers": dnsIDs(base), "profile": "forever"}))
			},
			kind: problem.InvalidProfile, status: 400,
		},
		{
			name: "CSR with extra names",
			do: func(t *testing.T) *acmetest.Response {
				o := h.newOrder(c, orderPayload)
				return must(c.Post(ctx, o.Finalize, map[string]string{"csr": b64(csr(t, newKey(t), base, dev.name("extra")))}))
			},
			kind: problem.BadCSR, status: 400,
			check: func(t *testing.T, res *acmetest.Response, p *acmetest.Problem) {
				if !strings.Contains(p.Detail, dev.name("extra")) {
					t.Errorf("detail does not name the extra name: %q", p.Detail)
				}
			},
		},
		{
			name: "CSR missing a name",
			do: func(t *testing.T) *acmetest.Response {
				o := h.newOrder(c, map[string]any{"identifiers": dnsIDs(base, "*."+base)})
				return must(c.Post(ctx, o.Finalize, map[string]string{"csr": b64(csr(t, newKey(t), base))}))
			},
			kind: problem.BadCSR, status: 400,
		},
		{
			name: "CSR with the account key",
			do: func(t *testing.T) *acmetest.Response {
				o := h.newOrder(c, orderPayload)
				return must(c.Post(ctx, o.Finalize, map[string]string{"csr": b64(csr(t, c.Key, base))}))
			},
			kind: problem.BadCSR, status: 400,
		},
		{
			name: "CSR with an RSA 1024 key",
			do: func(t *testing.T) *acmetest.Response {
				k, err := rsa.GenerateKey(rand.Reader, 1024)
				if err != nil {
					t.Fatal(err)
				}
				o := h.newOrder(c, orderPayload)
				return must(c.Post(ctx, o.Finalize, map[string]string{"csr": b64(csr(t, k, base))}))
			},
			kind: problem.BadCSR, status: 400,
		},
		{
			name: "CSR with a P-521 key",
			do: func(t *testing.T) *acmetest.Response {
				k, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				o := h.newOrder(c, orderPayload)
				return must(c.Post(ctx, o.Finalize, map[string]string{"csr": b64(csr(t, k, base))}))
			},
			kind: problem.BadCSR, status: 400,
		},
		{
			name: "CSR not DER",
			do: func(t *testing.T) *acmetest.Response {
				o := h.newOrder(c, orderPayload)
				return must(c.Post(ctx, o.Finalize, map[string]string{"csr": b64([]byte("not a csr"))}))
			},
			kind: problem.BadCSR, status: 400,
		},
		{
			name: "finalize an order that is not ready",
			do: func(t *testing.T) *acmetest.Response {
				o, _ := h.issue(c, base)
				return must(c.Post(ctx, o.Finalize, map[string]string{"csr": b64(csr(t, newKey(t), base))}))
			},
			kind: problem.OrderNotReady, status: 403,
			check: func(t *testing.T, res *acmetest.Response, p *acmetest.Problem) {
				if !strings.Contains(p.Detail, "valid") {
					t.Errorf("detail does not give the status: %q", p.Detail)
				}
			},
		},
		{
			name: "another account's order",
			do: func(t *testing.T) *acmetest.Response {
				return must(other.Post(ctx, h.newOrder(c, orderPayload).URL, nil))
			},
			kind: problem.Unauthorized, status: 401,
		},
		{
			name: "unknown order",
			do: func(t *testing.T) *acmetest.Response {
				return must(c.Post(ctx, h.ts.URL+"/acme/order/0000", nil))
			},
			kind: problem.Malformed, status: 404,
		},
		{
			name: "certificate of another device",
			do: func(t *testing.T) *acmetest.Response {
				o, _ := h.issue(c, base)
				return must(other.Post(ctx, o.Certificate, nil))
			},
			kind: problem.Unauthorized, status: 401,
		},
		{
			name: "revoke an already revoked certificate",
			do: func(t *testing.T) *acmetest.Response {
				_, chain := h.issue(c, base)
				payload := map[string]any{"certificate": b64(chain[0].Raw), "reason": 1}
				res, err := c.Post(ctx, c.Dir.RevokeCert, payload)
				expect(t, res, err, 200)
				return must(c.Post(ctx, c.Dir.RevokeCert, payload))
			},
			kind: problem.AlreadyRevoked, status: 400,
		},
		{
			name: "revoke with reason certificateHold",
			do: func(t *testing.T) *acmetest.Response {
				_, chain := h.issue(c, base)
				return must(c.Post(ctx, c.Dir.RevokeCert, map[string]any{"certificate": b64(chain[0].Raw), "reason": 6}))
			},
			kind: problem.BadRevocationReason, status: 400,
		},
		{
			name: "revoke by another device's account",
			do: func(t *testing.T) *acmetest.Response {
				_, chain := h.issue(c, base)
				return must(other.Post(ctx, other.Dir.RevokeCert, map[string]any{"certificate": b64(chain[0].Raw)}))
			},
			kind: problem.Unauthorized, status: 401,
		},
		{
			name: "revoke by a key that is not the certificate's",
			do: func(t *testing.T) *acmetest.Response {
				_, chain := h.issue(c, base)
				return must(c.Do(ctx, acmetest.Request{URL: c.Dir.RevokeCert, JWK: true, Key: newKey(t),
					Payload: map[string]any{"certificate": b64(chain[0].Raw)}}))
			},
			kind: problem.Unauthorized, status: 401,
		},
		{
			name: "revoke a certificate of another CA",
			do: func(t *testing.T) *acmetest.Response {
				return must(c.Post(ctx, c.Dir.RevokeCert, map[string]any{"certificate": b64(h.ca.Root().Raw)}))
			},
			kind: problem.Malformed, status: 404,
		},
		{
			name: "replaces twice",
			do: func(t *testing.T) *acmetest.Response {
				_, chain := h.issue(c, base)
				payload := map[string]any{"identifiers": dnsIDs(base), "replaces": certID(t, chain[0])}
				h.newOrder(c, payload)
				return must(c.Post(ctx, c.Dir.NewOrder, payload))
			},
			kind: problem.AlreadyReplaced, status: 409,
			check: func(t *testing.T, res *acmetest.Response, p *acmetest.Problem) {
				if !strings.HasPrefix(res.Location(), h.ts.URL+"/acme/order/") {
					t.Errorf("Location = %q", res.Location())
				}
			},
		},
		{
			name: "replaces an unknown certificate",
			do: func(t *testing.T) *acmetest.Response {
				id := b64(h.ca.Intermediate().SubjectKeyId) + "." + b64([]byte{0x12, 0x34})
				return must(c.Post(ctx, c.Dir.NewOrder, map[string]any{"identifiers": dnsIDs(base), "replaces": id}))
			},
			kind: problem.Malformed, status: 404,
		},
		{
			name: "replaces a certificate of another device",
			do: func(t *testing.T) *acmetest.Response {
				_, chain := h.issue(other, otherDev.name(""))
				return must(c.Post(ctx, c.Dir.NewOrder, map[string]any{"identifiers": dnsIDs(base), "replaces": certID(t, chain[0])}))
			},
			kind: problem.Malformed, status: 400,
		},
		{
			name: "replaces with a garbled certID",
			do: func(t *testing.T) *acmetest.Response {
				return must(c.Post(ctx, c.Dir.NewOrder, map[string]any{"identifiers": dnsIDs(base), "replaces": "not-a-cert-id"}))
			},
			kind: problem.Malformed, status: 400,
		},
		{
			name: "keyChange to a key in use",
			do: func(t *testing.T) *acmetest.Response {
				inUse := h.account(dev)
				return must(keyChange(t, c, inUse.Key))
			},
			kind: problem.Malformed, status: 409,
			check: func(t *testing.T, res *acmetest.Response, p *acmetest.Problem) {
				if !strings.HasPrefix(res.Location(), h.ts.URL+"/acme/account/") || res.Location() == c.KID {
					t.Errorf("Location = %q", res.Location())
				}
			},
		},
		{
			name: "keyChange with a wrong oldKey",
			do: func(t *testing.T) *acmetest.Response {
				newK := newKey(t)
				inner, err := acmetest.Sign(newK, "ES256", map[string]any{"jwk": acmetest.JWK(newK.Public()), "url": c.Dir.KeyChange},
					mustJSON(t, map[string]any{"account": c.KID, "oldKey": acmetest.JWK(newKey(t).Public())}))
				if err != nil {
					t.Fatal(err)
				}
				return must(c.Post(ctx, c.Dir.KeyChange, inner.JSON()))
			},
			kind: problem.Malformed, status: 400,
		},
		{
			name: "renewalInfo with a garbled certID",
			do: func(t *testing.T) *acmetest.Response {
				return get(t, h, c.Dir.RenewalInfo+"/garbled")
			},
			kind: problem.Malformed, status: 400,
		},
		{
			name: "renewalInfo of another issuer's certificate",
			do: func(t *testing.T) *acmetest.Response {
				return get(t, h, c.Dir.RenewalInfo+"/"+b64([]byte("other aki"))+"."+b64([]byte{1}))
			},
			kind: problem.Malformed, status: 404,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tt.do(t)
			p := res.Problem()
			if p == nil {
				t.Fatalf("not a problem document: %v (Content-Type %q)", res, res.Header.Get("Content-Type"))
			}
			if want := problem.URNPrefix + string(tt.kind); p.Type != want || res.Status != tt.status {
				t.Fatalf("got %d %s (%s), want %d %s", res.Status, p.Type, p.Detail, tt.status, want)
			}
			if p.Status != res.Status {
				t.Errorf("document status %d, HTTP status %d", p.Status, res.Status)
			}
			checkCommonHeaders(t, h, res)
			if tt.check != nil {
				tt.check(t, res, p)
			}
		})
	}
	if got := h.counter("lantls_acme_problems_total", "type", "badNonce"); got < 3 {
		t.Errorf("badNonce counter = %v, want at least 3", got)
	}

	// The log has a line per request and per problem, and no secrets.
	logs := h.logs.String()
	for _, want := range []string{"level=DEBUG msg=\"acme request\"", "level=INFO msg=\"acme problem\" method=POST path=/acme/new-order type=rejectedIdentifier"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	for name, secret := range map[string]string{"EAB key": b64(dev.eabKey), "nonce": usedNonce} {
		if secret == "" || strings.Contains(logs, secret) {
			t.Errorf("log contains the %s (or the test lost it)", name)
		}
	}
}

// checkCommonHeaders checks what every ACME response carries.
func checkCommonHeaders(t *testing.T, h *harness, res *acmetest.Response) {
	t.Helper()
	if res.Header.Get("Replay-Nonce") == "" {
		t.Errorf("no Replay-Nonce")
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", res.Header.Get("Cache-Control"))
	}
	index := "<" + h.dirURL + `>;rel="index"`
	found := false
	for _, l := range res.Header.Values("Link") {
		found = found || l == index
	}
	if !found {
		t.Errorf("Link = %q, want %s", res.Header.Values("Link"), index)
	}
}

// get sends a plain GET.
func get(t *testing.T, h *harness, url string) *acmetest.Response {
	t.Helper()
	res, err := h.ts.Client().Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &acmetest.Response{Status: res.StatusCode, Header: res.Header, Body: body}
}

// keyChange asks to roll c's account over to newKey (RFC 8555 section
// 7.3.5).
func keyChange(t *testing.T, c *acmetest.Client, newKey crypto.Signer) (*acmetest.Response, error) {
	t.Helper()
	payload := mustJSON(t, map[string]any{"account": c.KID, "oldKey": acmetest.JWK(c.Key.Public())})
	inner, err := acmetest.Sign(newKey, acmetest.Algorithm(newKey), map[string]any{"jwk": acmetest.JWK(newKey.Public()), "url": c.Dir.KeyChange}, payload)
	if err != nil {
		t.Fatal(err)
	}
	return c.Post(context.Background(), c.Dir.KeyChange, inner.JSON())
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
