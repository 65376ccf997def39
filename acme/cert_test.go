package acme_test

import (
	"testing"

	"github.com/lantls/lantls/acme/internal/acmetest"
	"github.com/lantls/lantls/problem"
)

// TestCertificateProblems sends the bad requests of the certificate resource
// (RFC 8555 section 7.4.2): a certificate of another device; each gets its
// problem type, HTTP status and the headers every ACME response carries.
func TestCertificateProblems(t *testing.T) {
	fx := newProblemFixture(t)
	runProblemCases(t, fx, []problemCase{
		{
			name: "certificate of another device",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				o, _ := fx.h.issue(fx.c, fx.base)
				return must(fx.other.Post(fx.ctx, o.Certificate, nil))
			},
			kind: problem.Unauthorized, status: 401,
		},
	})
}

// TestRevokeCertProblems sends the bad requests of revokeCert (RFC 8555
// section 7.6): revoked twice, a reason not allowed, another device's
// account, another key, another CA's certificate; each gets its problem
// type, HTTP status and the headers every ACME response carries.
func TestRevokeCertProblems(t *testing.T) {
	fx := newProblemFixture(t)
	runProblemCases(t, fx, []problemCase{
		{
			name: "revoke an already revoked certificate",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				_, chain := fx.h.issue(fx.c, fx.base)
				payload := map[string]any{"certificate": b64(chain[0].Raw), "reason": 1}
				res, err := fx.c.Post(fx.ctx, fx.c.Dir.RevokeCert, payload)
				expect(t, res, err, 200)
				return must(fx.c.Post(fx.ctx, fx.c.Dir.RevokeCert, payload))
			},
			kind: problem.AlreadyRevoked, status: 400,
		},
		{
			name: "revoke with reason certificateHold",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				_, chain := fx.h.issue(fx.c, fx.base)
				return must(fx.c.Post(fx.ctx, fx.c.Dir.RevokeCert, map[string]any{"certificate": b64(chain[0].Raw), "reason": 6}))
			},
			kind: problem.BadRevocationReason, status: 400,
		},
		{
			name: "revoke by another device's account",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				_, chain := fx.h.issue(fx.c, fx.base)
				return must(fx.other.Post(fx.ctx, fx.other.Dir.RevokeCert, map[string]any{"certificate": b64(chain[0].Raw)}))
			},
			kind: problem.Unauthorized, status: 401,
		},
		{
			name: "revoke by a key that is not the certificate's",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				_, chain := fx.h.issue(fx.c, fx.base)
				return must(fx.c.Do(fx.ctx, acmetest.Request{URL: fx.c.Dir.RevokeCert, JWK: true, Key: newKey(t),
					Payload: map[string]any{"certificate": b64(chain[0].Raw)}}))
			},
			kind: problem.Unauthorized, status: 401,
		},
		{
			name: "revoke a certificate of another CA",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				return must(fx.c.Post(fx.ctx, fx.c.Dir.RevokeCert, map[string]any{"certificate": b64(fx.h.ca.Root().Raw)}))
			},
			kind: problem.Malformed, status: 404,
		},
	})
}
