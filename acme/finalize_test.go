package acme_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"

	"github.com/lantls/lantls/acme/internal/acmetest"
	"github.com/lantls/lantls/problem"
)

// TestFinalizeProblems sends the bad requests of finalize (RFC 8555 section
// 7.4): CSRs the server refuses and orders that are not ready; each gets its
// problem type, HTTP status and the headers every ACME response carries.
func TestFinalizeProblems(t *testing.T) {
	fx := newProblemFixture(t)
	runProblemCases(t, fx, []problemCase{
		{
			name: "CSR with extra names",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				o := fx.h.newOrder(fx.c, fx.orderPayload)
				return must(fx.c.Post(fx.ctx, o.Finalize, map[string]string{"csr": b64(csr(t, newKey(t), fx.base, fx.dev.name("extra")))}))
			},
			kind: problem.BadCSR, status: 400,
			check: func(t *testing.T, fx *problemFixture, res *acmetest.Response, p *acmetest.Problem) {
				if !strings.Contains(p.Detail, fx.dev.name("extra")) {
					t.Errorf("detail does not name the extra name: %q", p.Detail)
				}
			},
		},
		{
			name: "CSR missing a name",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				o := fx.h.newOrder(fx.c, map[string]any{"identifiers": dnsIDs(fx.base, "*."+fx.base)})
				return must(fx.c.Post(fx.ctx, o.Finalize, map[string]string{"csr": b64(csr(t, newKey(t), fx.base))}))
			},
			kind: problem.BadCSR, status: 400,
		},
		{
			name: "CSR with the account key",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				o := fx.h.newOrder(fx.c, fx.orderPayload)
				return must(fx.c.Post(fx.ctx, o.Finalize, map[string]string{"csr": b64(csr(t, fx.c.Key, fx.base))}))
			},
			kind: problem.BadCSR, status: 400,
		},
		{
			name: "CSR with an RSA 1024 key",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				k, err := rsa.GenerateKey(rand.Reader, 1024)
				if err != nil {
					t.Fatal(err)
				}
				o := fx.h.newOrder(fx.c, fx.orderPayload)
				return must(fx.c.Post(fx.ctx, o.Finalize, map[string]string{"csr": b64(csr(t, k, fx.base))}))
			},
			kind: problem.BadCSR, status: 400,
		},
		{
			name: "CSR with a P-521 key",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				k, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				o := fx.h.newOrder(fx.c, fx.orderPayload)
				return must(fx.c.Post(fx.ctx, o.Finalize, map[string]string{"csr": b64(csr(t, k, fx.base))}))
			},
			kind: problem.BadCSR, status: 400,
		},
		{
			name: "CSR not DER",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				o := fx.h.newOrder(fx.c, fx.orderPayload)
				return must(fx.c.Post(fx.ctx, o.Finalize, map[string]string{"csr": b64([]byte("not a csr"))}))
			},
			kind: problem.BadCSR, status: 400,
		},
		{
			name: "finalize an order that is not ready",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				o, _ := fx.h.issue(fx.c, fx.base)
				return must(fx.c.Post(fx.ctx, o.Finalize, map[string]string{"csr": b64(csr(t, newKey(t), fx.base))}))
			},
			kind: problem.OrderNotReady, status: 403,
			check: func(t *testing.T, fx *problemFixture, res *acmetest.Response, p *acmetest.Problem) {
				if !strings.Contains(p.Detail, "valid") {
					t.Errorf("detail does not give the status: %q", p.Detail)
				}
			},
		},
	})
}
