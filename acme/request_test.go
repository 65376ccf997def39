package acme_test

import (
	"strings"
	"testing"

	"github.com/lantls/lantls/acme/internal/acmetest"
	"github.com/lantls/lantls/problem"
)

// TestRequestProblems sends the bad requests of the checks of every POST
// (RFC 8555 section 6): nonce, JWS form and algorithm, url header, kid,
// media type, size, payload form; each gets its problem type, HTTP status
// and the headers every ACME response carries.
func TestRequestProblems(t *testing.T) {
	fx := newProblemFixture(t)
	runProblemCases(t, fx, []problemCase{
		{
			name: "garbled nonce",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				return must(fx.c.Do(fx.ctx, acmetest.Request{URL: fx.c.Dir.NewOrder, Payload: fx.orderPayload, Nonce: "garbled"}))
			},
			kind: problem.BadNonce, status: 400,
		},
		{
			name: "reused nonce",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				n, err := fx.c.Nonce(fx.ctx)
				if err != nil {
					t.Fatal(err)
				}
				fx.usedNonce = n
				res, err := fx.c.Do(fx.ctx, acmetest.Request{URL: fx.c.KID, Nonce: n})
				expect(t, res, err, 200)
				return must(fx.c.Do(fx.ctx, acmetest.Request{URL: fx.c.KID, Nonce: n}))
			},
			kind: problem.BadNonce, status: 400,
		},
		{
			name: "missing nonce",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				return must(fx.c.Do(fx.ctx, acmetest.Request{URL: fx.c.KID, NoNonce: true}))
			},
			kind: problem.BadNonce, status: 400,
		},
		{
			name: "wrong url header",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				return must(fx.c.Do(fx.ctx, acmetest.Request{URL: fx.c.Dir.NewOrder, Payload: fx.orderPayload, HeaderURL: fx.c.Dir.NewAccount}))
			},
			kind: problem.Unauthorized, status: 401,
		},
		{
			name: "unknown kid",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				return must(fx.c.Do(fx.ctx, acmetest.Request{URL: fx.c.Dir.NewOrder, Payload: fx.orderPayload, KID: fx.h.ts.URL + "/acme/account/0000"}))
			},
			kind: problem.AccountDoesNotExist, status: 400,
		},
		{
			name: "jwk where kid is required",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				return must(fx.c.Do(fx.ctx, acmetest.Request{URL: fx.c.Dir.NewOrder, Payload: fx.orderPayload, JWK: true}))
			},
			kind: problem.Malformed, status: 400,
		},
		{
			name: "compact serialization",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				return must(fx.c.Do(fx.ctx, acmetest.Request{URL: fx.c.Dir.NewOrder, Body: []byte("eyJhbGciOiJFUzI1NiJ9.e30.AAAA")}))
			},
			kind: problem.Malformed, status: 400,
		},
		{
			name: "bad signature",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				return must(fx.c.Do(fx.ctx, acmetest.Request{URL: fx.c.Dir.NewOrder, Payload: fx.orderPayload, Key: newKey(t)}))
			},
			kind: problem.Malformed, status: 400,
		},
		{
			name: "HS256",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				n, _ := fx.c.Nonce(fx.ctx)
				f, err := acmetest.Sign(fx.dev.eabKey, "HS256", map[string]any{"kid": fx.c.KID, "nonce": n, "url": fx.c.Dir.NewOrder}, []byte("{}"))
				if err != nil {
					t.Fatal(err)
				}
				return must(fx.c.Do(fx.ctx, acmetest.Request{URL: fx.c.Dir.NewOrder, Body: f.JSON()}))
			},
			kind: problem.BadSignatureAlgorithm, status: 400,
			check: func(t *testing.T, fx *problemFixture, res *acmetest.Response, p *acmetest.Problem) {
				if strings.Join(p.Algorithms, ",") != "ES256,ES384,RS256,EdDSA" {
					t.Errorf("algorithms = %v", p.Algorithms)
				}
			},
		},
		{
			name: "alg that does not suit the account key",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				return must(fx.c.Do(fx.ctx, acmetest.Request{URL: fx.c.Dir.NewOrder, Payload: fx.orderPayload, Alg: "ES384"}))
			},
			kind: problem.BadSignatureAlgorithm, status: 400,
		},
		{
			name: "payload not an object",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				return must(fx.c.Post(fx.ctx, fx.c.Dir.NewOrder, []byte("[1]")))
			},
			kind: problem.Malformed, status: 400,
		},
		{
			name: "POST-as-GET to new-order",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				return must(fx.c.Post(fx.ctx, fx.c.Dir.NewOrder, nil))
			},
			kind: problem.Malformed, status: 400,
		},
		{
			name: "payload on a POST-as-GET resource",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				return must(fx.c.Post(fx.ctx, fx.c.KID+"/orders", map[string]any{}))
			},
			kind: problem.Malformed, status: 400,
		},
		{
			name: "wrong Content-Type",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				return must(fx.c.Do(fx.ctx, acmetest.Request{URL: fx.c.Dir.NewOrder, Payload: fx.orderPayload, ContentType: "application/json"}))
			},
			kind: problem.Malformed, status: 415,
		},
		{
			name: "body too large",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				return must(fx.c.Do(fx.ctx, acmetest.Request{URL: fx.c.Dir.NewOrder, Payload: map[string]string{"x": strings.Repeat("a", 70<<10)}}))
			},
			kind: problem.Malformed, status: 413,
		},
	})
	if got := fx.h.counter("lantls_acme_problems_total", "type", "badNonce"); got < 3 {
		t.Errorf("badNonce counter = %v, want at least 3", got)
	}
	// The log has a line per request, and no secrets.
	logs := fx.h.logs.String()
	if want := "level=DEBUG msg=\"acme request\""; !strings.Contains(logs, want) {
		t.Errorf("log lacks %q", want)
	}
	fx.checkNoSecretsLogged(t)
}
