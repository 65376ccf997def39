package acme_test

import (
	"testing"

	"github.com/lantls/lantls/acme/internal/acmetest"
	"github.com/lantls/lantls/problem"
)

// TestRenewalInfoProblems sends the bad requests of renewalInfo (RFC 9773):
// certIDs that are garbled or of another issuer; each gets its problem type,
// HTTP status and the headers every ACME response carries.
func TestRenewalInfoProblems(t *testing.T) {
	fx := newProblemFixture(t)
	runProblemCases(t, fx, []problemCase{
		{
			name: "renewalInfo with a garbled certID",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				return get(t, fx.h, fx.c.Dir.RenewalInfo+"/garbled")
			},
			kind: problem.Malformed, status: 400,
		},
		{
			name: "renewalInfo of another issuer's certificate",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				return get(t, fx.h, fx.c.Dir.RenewalInfo+"/"+b64([]byte("other aki"))+"."+b64([]byte{1}))
			},
			kind: problem.Malformed, status: 404,
		},
	})
}
