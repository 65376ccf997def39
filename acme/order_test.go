package acme_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/lantls/lantls/acme/internal/acmetest"
	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
)

// TestNewOrderProblems sends the bad requests of newOrder (RFC 8555 section
// 7.4, RFC 9773 replaces): a device that is not active, names it does not
// own, identifiers and fields the server refuses; each gets its problem
// type, HTTP status and the headers every ACME response carries.
func TestNewOrderProblems(t *testing.T) {
	fx := newProblemFixture(t)
	runProblemCases(t, fx, []problemCase{
		{
			name: "revoked device",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				d := fx.h.newDevice("")
				a := fx.h.account(d)
				d.Status = store.StatusRevoked
				if err := fx.h.store.UpdateDevice(fx.ctx, d.Device); err != nil {
					t.Fatal(err)
				}
				return must(a.Post(fx.ctx, a.Dir.NewOrder, map[string]any{"identifiers": dnsIDs(d.name(""))}))
			},
			kind: problem.Unauthorized, status: 401,
		},
		{
			name: "names outside the device",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				return must(fx.c.Post(fx.ctx, fx.c.Dir.NewOrder, map[string]any{
					"identifiers": dnsIDs(fx.base, fx.otherDev.name(""), "printer.example.com"),
				}))
			},
			kind: problem.RejectedIdentifier, status: 400,
			check: func(t *testing.T, fx *problemFixture, res *acmetest.Response, p *acmetest.Problem) {
				if len(p.Subproblems) != 2 {
					t.Fatalf("subproblems = %d, want 2", len(p.Subproblems))
				}
				for i, want := range []string{fx.otherDev.name(""), "printer.example.com"} {
					sp := p.Subproblems[i]
					if sp.Type != problem.URNPrefix+string(problem.RejectedIdentifier) || sp.Identifier == nil || sp.Identifier.Value != want {
						t.Errorf("subproblem %d = %+v", i, sp)
					}
				}
			},
		},
		{
			name: "invalid DNS name",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				return must(fx.c.Post(fx.ctx, fx.c.Dir.NewOrder, map[string]any{"identifiers": dnsIDs("bad_name." + fx.base)}))
			},
			kind: problem.RejectedIdentifier, status: 400,
		},
		{
			name: "ip identifier",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				return must(fx.c.Post(fx.ctx, fx.c.Dir.NewOrder, map[string]any{
					"identifiers": []store.Identifier{{Type: "ip", Value: "192.168.1.20"}},
				}))
			},
			kind: problem.UnsupportedIdentifier, status: 400,
			check: func(t *testing.T, fx *problemFixture, res *acmetest.Response, p *acmetest.Problem) {
				if len(p.Subproblems) != 1 || p.Subproblems[0].Identifier.Type != "ip" {
					t.Errorf("subproblems = %+v", p.Subproblems)
				}
			},
		},
		{
			name: "no identifiers",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				return must(fx.c.Post(fx.ctx, fx.c.Dir.NewOrder, map[string]any{"identifiers": []store.Identifier{}}))
			},
			kind: problem.Malformed, status: 400,
		},
		{
			name: "too many identifiers",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				var names []string
				for i := range 101 {
					names = append(names, fx.dev.name(fmt.Sprintf("n%d", i)))
				}
				return must(fx.c.Post(fx.ctx, fx.c.Dir.NewOrder, map[string]any{"identifiers": dnsIDs(names...)}))
			},
			kind: problem.Malformed, status: 400,
		},
		{
			name: "notBefore",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				return must(fx.c.Post(fx.ctx, fx.c.Dir.NewOrder, map[string]any{"identifiers": dnsIDs(fx.base), "notBefore": "2030-01-01T00:00:00Z"}))
			},
			kind: problem.Malformed, status: 400,
		},
		{
			name: "unknown profile",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				return must(fx.c.Post(fx.ctx, fx.c.Dir.NewOrder, map[string]any{"identifiers": dnsIDs(fx.base), "profile": "forever"}))
			},
			kind: problem.InvalidProfile, status: 400,
		},
		{
			name: "replaces twice",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				_, chain := fx.h.issue(fx.c, fx.base)
				payload := map[string]any{"identifiers": dnsIDs(fx.base), "replaces": certID(t, chain[0])}
				fx.h.newOrder(fx.c, payload)
				return must(fx.c.Post(fx.ctx, fx.c.Dir.NewOrder, payload))
			},
			kind: problem.AlreadyReplaced, status: 409,
			check: func(t *testing.T, fx *problemFixture, res *acmetest.Response, p *acmetest.Problem) {
				if !strings.HasPrefix(res.Location(), fx.h.ts.URL+"/acme/order/") {
					t.Errorf("Location = %q", res.Location())
				}
			},
		},
		{
			name: "replaces an unknown certificate",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				id := b64(fx.h.ca.Intermediate().SubjectKeyId) + "." + b64([]byte{0x12, 0x34})
				return must(fx.c.Post(fx.ctx, fx.c.Dir.NewOrder, map[string]any{"identifiers": dnsIDs(fx.base), "replaces": id}))
			},
			kind: problem.Malformed, status: 404,
		},
		{
			name: "replaces a certificate of another device",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				_, chain := fx.h.issue(fx.other, fx.otherDev.name(""))
				return must(fx.c.Post(fx.ctx, fx.c.Dir.NewOrder, map[string]any{"identifiers": dnsIDs(fx.base), "replaces": certID(t, chain[0])}))
			},
			kind: problem.Malformed, status: 400,
		},
		{
			name: "replaces with a garbled certID",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				return must(fx.c.Post(fx.ctx, fx.c.Dir.NewOrder, map[string]any{"identifiers": dnsIDs(fx.base), "replaces": "not-a-cert-id"}))
			},
			kind: problem.Malformed, status: 400,
		},
	})
	// The log has a line per problem, and no secrets.
	if want := "level=INFO msg=\"acme problem\" method=POST path=/acme/new-order type=rejectedIdentifier"; !strings.Contains(fx.h.logs.String(), want) {
		t.Errorf("log lacks %q", want)
	}
	fx.checkNoSecretsLogged(t)
}

// TestOrderProblems sends the bad requests of the order resource: another
// account's order, an unknown order; each gets its problem type, HTTP status
// and the headers every ACME response carries.
func TestOrderProblems(t *testing.T) {
	fx := newProblemFixture(t)
	runProblemCases(t, fx, []problemCase{
		{
			name: "another account's order",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				return must(fx.other.Post(fx.ctx, fx.h.newOrder(fx.c, fx.orderPayload).URL, nil))
			},
			kind: problem.Unauthorized, status: 401,
		},
		{
			name: "unknown order",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				return must(fx.c.Post(fx.ctx, fx.h.ts.URL+"/acme/order/0000", nil))
			},
			kind: problem.Malformed, status: 404,
		},
	})
}
