package acme_test

import (
	"testing"

	"github.com/lantls/lantls/acme/internal/acmetest"
	"github.com/lantls/lantls/problem"
)

// TestRouteProblems sends the bad requests of the routes: a wrong method
// (405 with Allow) and an unknown path (404); each gets its problem type,
// HTTP status and the headers every ACME response carries.
func TestRouteProblems(t *testing.T) {
	fx := newProblemFixture(t)
	runProblemCases(t, fx, []problemCase{
		{
			name: "GET on new-order",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				return get(t, fx.h, fx.c.Dir.NewOrder)
			},
			kind: problem.Malformed, status: 405,
			check: func(t *testing.T, fx *problemFixture, res *acmetest.Response, p *acmetest.Problem) {
				if res.Header.Get("Allow") != "POST" {
					t.Errorf("Allow = %q", res.Header.Get("Allow"))
				}
			},
		},
		{
			name: "GET on an order",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				return get(t, fx.h, fx.h.newOrder(fx.c, fx.orderPayload).URL)
			},
			kind: problem.Malformed, status: 405,
		},
		{
			name: "unknown resource",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				return must(fx.c.Post(fx.ctx, fx.h.ts.URL+"/acme/nothing-here", nil))
			},
			kind: problem.Malformed, status: 404,
		},
	})
}
