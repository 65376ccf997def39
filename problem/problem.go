// Package problem holds the typed errors of lantls. Internal packages return
// *problem.Error values; only the ACME front end turns them into RFC 7807
// problem documents (see Document), so internal detail never reaches a
// client unless a constructor put it in Detail on purpose.
package problem

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Kind is an ACME error type without its URN prefix, e.g. "badNonce".
type Kind string

// The ACME error types of RFC 8555 section 6.7, RFC 9773 and RFC 8738.
const (
	AccountDoesNotExist     Kind = "accountDoesNotExist"
	AlreadyReplaced         Kind = "alreadyReplaced"
	AlreadyRevoked          Kind = "alreadyRevoked"
	BadCSR                  Kind = "badCSR"
	BadNonce                Kind = "badNonce"
	BadPublicKey            Kind = "badPublicKey"
	BadRevocationReason     Kind = "badRevocationReason"
	BadSignatureAlgorithm   Kind = "badSignatureAlgorithm"
	CAA                     Kind = "caa"
	Compound                Kind = "compound"
	Connection              Kind = "connection"
	DNS                     Kind = "dns"
	ExternalAccountRequired Kind = "externalAccountRequired"
	IncorrectResponse       Kind = "incorrectResponse"
	InvalidContact          Kind = "invalidContact"
	Malformed               Kind = "malformed"
	OrderNotReady           Kind = "orderNotReady"
	RateLimited             Kind = "rateLimited"
	RejectedIdentifier      Kind = "rejectedIdentifier"
	ServerInternal          Kind = "serverInternal"
	TLS                     Kind = "tls"
	Unauthorized            Kind = "unauthorized"
	UnsupportedContact      Kind = "unsupportedContact"
	UnsupportedIdentifier   Kind = "unsupportedIdentifier"
	UserActionRequired      Kind = "userActionRequired"
	// InvalidProfile is from draft-ietf-acme-profiles.
	InvalidProfile Kind = "invalidProfile"
	// BadAttestationStatement is from draft-ietf-acme-device-attest
	// (section 5): a device-attest-01 statement that does not verify.
	BadAttestationStatement Kind = "badAttestationStatement"
)

// URNPrefix is the namespace of ACME error types.
const URNPrefix = "urn:ietf:params:acme:error:"

// Identifier names the subject of a subproblem.
type Identifier struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// Error is a typed error that the ACME front end can write as a problem
// document. Status 0 means the default status of Kind.
type Error struct {
	Kind        Kind
	Detail      string
	Status      int
	RetryAfter  time.Duration // for rateLimited; sent as Retry-After
	Algorithms  []string      // for badSignatureAlgorithm
	Identifier  *Identifier
	Subproblems []*Error
	Location    string // for conflicts: the URL of the existing resource
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Kind, e.Detail) }

// HTTPStatus returns the status to send with the problem: e.Status if set,
// else the status of its kind in statuses.
func (e *Error) HTTPStatus() int {
	if e.Status != 0 {
		return e.Status
	}
	if s, ok := statuses[e.Kind]; ok {
		return s
	}
	return http.StatusBadRequest
}

// statuses is the HTTP status of each kind: the one RFC 8555, RFC 9773 or
// draft-ietf-acme-profiles names where they name one, else the one Boulder
// sends (letsencrypt/boulder probs). status_test.go cites the source of each.
var statuses = map[Kind]int{
	AccountDoesNotExist:     http.StatusBadRequest, // RFC 8555 section 7.3.1
	AlreadyReplaced:         http.StatusConflict,
	AlreadyRevoked:          http.StatusBadRequest,
	BadAttestationStatement: http.StatusBadRequest,
	BadCSR:                  http.StatusBadRequest,
	BadNonce:                http.StatusBadRequest, // RFC 8555 section 6.5
	BadPublicKey:            http.StatusBadRequest,
	BadRevocationReason:     http.StatusBadRequest,
	BadSignatureAlgorithm:   http.StatusBadRequest, // RFC 8555 section 6.2
	CAA:                     http.StatusForbidden,
	Compound:                http.StatusBadRequest,
	Connection:              http.StatusBadRequest,
	DNS:                     http.StatusBadRequest,
	ExternalAccountRequired: http.StatusBadRequest,
	IncorrectResponse:       http.StatusBadRequest,
	InvalidContact:          http.StatusBadRequest,
	InvalidProfile:          http.StatusBadRequest,
	Malformed:               http.StatusBadRequest,
	OrderNotReady:           http.StatusForbidden, // RFC 8555 section 7.4
	RateLimited:             http.StatusTooManyRequests,
	RejectedIdentifier:      http.StatusBadRequest,
	ServerInternal:          http.StatusInternalServerError,
	TLS:                     http.StatusBadRequest,
	Unauthorized:            http.StatusUnauthorized, // RFC 8555 section 7.3.6
	UnsupportedContact:      http.StatusBadRequest,
	UnsupportedIdentifier:   http.StatusBadRequest,
	UserActionRequired:      http.StatusForbidden, // RFC 8555 section 7.3.3
}

// Document is the RFC 7807 wire form.
type Document struct {
	Type        string      `json:"type"`
	Detail      string      `json:"detail,omitempty"`
	Status      int         `json:"status,omitempty"`
	Identifier  *Identifier `json:"identifier,omitempty"`
	Subproblems []*Document `json:"subproblems,omitempty"`
	Algorithms  []string    `json:"algorithms,omitempty"`
}

// Document returns the wire form of e.
func (e *Error) Document() *Document {
	d := &Document{
		Type:       URNPrefix + string(e.Kind),
		Detail:     e.Detail,
		Status:     e.HTTPStatus(),
		Identifier: e.Identifier,
		Algorithms: e.Algorithms,
	}
	for _, sp := range e.Subproblems {
		sd := sp.Document()
		sd.Status = 0
		d.Subproblems = append(d.Subproblems, sd)
	}
	return d
}

// New returns a problem of kind with a formatted detail.
func New(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

// OrInternal returns the *Error in err's chain or, when there is none, a
// serverInternal problem that hides err's text from the client. Unlike
// errors.As it always returns a problem: the one to send for err.
func OrInternal(err error) *Error {
	var p *Error
	if errors.As(err, &p) {
		return p
	}
	return &Error{Kind: ServerInternal, Detail: "internal error"}
}

// Is reports whether err carries a problem of kind.
func Is(err error, kind Kind) bool {
	var p *Error
	return errors.As(err, &p) && p.Kind == kind
}

// Constructors are named after their kind (or, for malformed problems with
// another status, after that status) with an Err suffix, one per commonly
// used kind, so that call sites read as prose.

// BadNonceErr returns a badNonce problem.
func BadNonceErr(format string, args ...any) *Error { return New(BadNonce, format, args...) }

// MalformedErr returns a malformed problem.
func MalformedErr(format string, args ...any) *Error { return New(Malformed, format, args...) }

// UnauthorizedErr returns an unauthorized problem.
func UnauthorizedErr(format string, args ...any) *Error {
	return New(Unauthorized, format, args...)
}

// BadCSRErr returns a badCSR problem.
func BadCSRErr(format string, args ...any) *Error { return New(BadCSR, format, args...) }

// RejectedIdentifierErr returns a rejectedIdentifier problem.
func RejectedIdentifierErr(format string, args ...any) *Error {
	return New(RejectedIdentifier, format, args...)
}

// ServerInternalErr returns a serverInternal problem. The front end logs
// its detail and sends the client only "internal error".
func ServerInternalErr(format string, args ...any) *Error {
	return New(ServerInternal, format, args...)
}

// RateLimitedErr returns a rateLimited problem that asks the client to wait.
func RateLimitedErr(retryAfter time.Duration, format string, args ...any) *Error {
	p := New(RateLimited, format, args...)
	p.RetryAfter = retryAfter
	return p
}

// NotFoundErr returns a malformed problem with status 404, as Pebble and
// Boulder do for unknown resources.
func NotFoundErr(format string, args ...any) *Error {
	p := New(Malformed, format, args...)
	p.Status = http.StatusNotFound
	return p
}

// MethodNotAllowedErr returns a malformed problem with status 405, as
// Pebble and Boulder do.
func MethodNotAllowedErr(format string, args ...any) *Error {
	p := New(Malformed, format, args...)
	p.Status = http.StatusMethodNotAllowed
	return p
}

// ConflictErr returns a malformed problem with status 409 pointing at the
// resource that conflicts (RFC 8555 section 7.3.5).
func ConflictErr(location, format string, args ...any) *Error {
	p := New(Malformed, format, args...)
	p.Status = http.StatusConflict
	p.Location = location
	return p
}

// MarshalJSON writes e as its problem document, so stored order and
// challenge errors read back as they were sent.
func (e *Error) MarshalJSON() ([]byte, error) { return json.Marshal(e.Document()) }

// UnmarshalJSON reads a problem document written by MarshalJSON.
func (e *Error) UnmarshalJSON(b []byte) error {
	var d Document
	if err := json.Unmarshal(b, &d); err != nil {
		return err
	}
	*e = *fromDocument(&d)
	return nil
}

func fromDocument(d *Document) *Error {
	e := &Error{
		Kind:       Kind(strings.TrimPrefix(d.Type, URNPrefix)),
		Detail:     d.Detail,
		Status:     d.Status,
		Identifier: d.Identifier,
		Algorithms: d.Algorithms,
	}
	for _, sd := range d.Subproblems {
		e.Subproblems = append(e.Subproblems, fromDocument(sd))
	}
	return e
}
