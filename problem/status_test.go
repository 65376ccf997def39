package problem

import (
	"net/http"
	"testing"
)

// TestStatuses walks the whole status table. Where an RFC names the status
// the source quotes it; elsewhere it names Boulder's choice
// (letsencrypt/boulder probs.go), or says that nothing names one.
func TestStatuses(t *testing.T) {
	tests := []struct {
		kind   Kind
		status int
		source string
	}{
		{AccountDoesNotExist, 400, `RFC 8555 section 7.3.1: "the server MUST return an error response with status code 400 (Bad Request) and type accountDoesNotExist"`},
		{BadNonce, 400, `RFC 8555 section 6.5: "it MUST provide HTTP status code 400 (Bad Request), and indicate the ACME error type badNonce"`},
		{BadSignatureAlgorithm, 400, `RFC 8555 section 6.2: "the server MUST return an error with status code 400 (Bad Request) and type badSignatureAlgorithm"`},
		{OrderNotReady, 403, `RFC 8555 section 7.4: "the server MUST return a 403 (Forbidden) error with a problem document of type orderNotReady"`},
		{Unauthorized, 401, `RFC 8555 section 7.3.6: a request from a deactivated account "MUST return an error response with status code 401 (Unauthorized) and type unauthorized"`},
		{UserActionRequired, 403, `RFC 8555 section 7.3.3: terms changed, "403 (Forbidden)" with userActionRequired`},

		{AlreadyReplaced, 409, "Boulder (RFC 9773 section 5 names none): 409 Conflict"},
		{AlreadyRevoked, 400, "Boulder"},
		{BadCSR, 400, "Boulder (RFC 8555 section 7.4 names none)"},
		{BadPublicKey, 400, "Boulder"},
		{BadRevocationReason, 400, "Boulder"},
		{CAA, 403, "Boulder"},
		{Connection, 400, "Boulder"},
		{DNS, 400, "Boulder"},
		{InvalidContact, 400, "Boulder (as invalidEmail)"},
		{InvalidProfile, 400, "Boulder (draft-ietf-acme-profiles names none)"},
		{Malformed, 400, "Boulder"},
		{RateLimited, 429, "Boulder (RFC 8555 section 6.6 names none; RFC 6585 section 4 defines 429)"},
		{RejectedIdentifier, 400, "Boulder"},
		{ServerInternal, 500, "Boulder"},
		{TLS, 400, "Boulder"},
		{UnsupportedContact, 400, "Boulder"},
		{UnsupportedIdentifier, 400, "Boulder"},

		{Compound, 400, "none named; a client error with subproblems (RFC 8555 section 6.7.1)"},
		{ExternalAccountRequired, 400, "none named (RFC 8555 section 7.3.4); a client error"},
		{IncorrectResponse, 400, "none named; a client error"},
		{BadAttestationStatement, 400, "none named (draft-ietf-acme-device-attest section 5); a client error, as step-ca sends it"},
	}
	seen := map[Kind]bool{}
	for _, tt := range tests {
		if seen[tt.kind] {
			t.Errorf("%s is listed twice", tt.kind)
		}
		seen[tt.kind] = true
		if _, ok := statuses[tt.kind]; !ok {
			t.Errorf("%s has no row in the status table", tt.kind)
		}
		if got := New(tt.kind, "x").HTTPStatus(); got != tt.status {
			t.Errorf("%s: status %d, want %d (%s)", tt.kind, got, tt.status, tt.source)
		}
		if got := New(tt.kind, "x").Document().Status; got != tt.status {
			t.Errorf("%s: document status %d, want %d", tt.kind, got, tt.status)
		}
	}
	for kind := range statuses {
		if !seen[kind] {
			t.Errorf("the status of %s has no case here: add it with its source", kind)
		}
	}
}

// TestStatusOverride checks that a status set on a problem wins over its
// kind's.
func TestStatusOverride(t *testing.T) {
	for _, tt := range []struct {
		p    *Error
		want int
	}{
		{NotFoundErr("x"), http.StatusNotFound},
		{MethodNotAllowedErr("x"), http.StatusMethodNotAllowed},
		{ConflictErr("/acme/account/1", "x"), http.StatusConflict},
		{MalformedErr("x"), http.StatusBadRequest},
	} {
		if got := tt.p.HTTPStatus(); got != tt.want {
			t.Errorf("%v: status %d, want %d", tt.p, got, tt.want)
		}
	}
}
