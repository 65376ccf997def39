package upstream

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mholt/acmez/v3/acme"

	"github.com/lantls/lantls/problem"
)

// retrySlot receives the Retry-After of the last error response to the
// requests made with a context that carries it: the ACME client library
// turns problem responses into errors without their headers.
type retrySlot struct {
	mu sync.Mutex
	d  time.Duration
}

type retrySlotKey struct{}

// withRetrySlot returns a context whose upstream requests record their
// Retry-After in the returned slot.
func withRetrySlot(ctx context.Context) (context.Context, *retrySlot) {
	slot := &retrySlot{}
	return context.WithValue(ctx, retrySlotKey{}, slot), slot
}

func (r *retrySlot) get() time.Duration {
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.d
}

// retryAfterTransport records the Retry-After of error responses in the
// request context's retrySlot.
type retryAfterTransport struct{ base http.RoundTripper }

func (t retryAfterTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := t.base.RoundTrip(r)
	if err != nil || res.StatusCode < 400 {
		return res, err
	}
	if slot, _ := r.Context().Value(retrySlotKey{}).(*retrySlot); slot != nil {
		if d, ok := parseRetryAfter(res.Header.Get("Retry-After"), time.Now()); ok {
			slot.mu.Lock()
			slot.d = d
			slot.mu.Unlock()
		}
	}
	return res, err
}

// maxRetryAfter caps an upstream's Retry-After: a month is longer than any
// public CA's rate-limit window, and more would overflow a Duration.
const (
	maxRetryAfter        = 30 * 24 * time.Hour
	maxRetryAfterSeconds = int(maxRetryAfter / time.Second)
)

// parseRetryAfter reads Retry-After as seconds or an HTTP date (RFC 9110
// section 10.2.3).
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		return min(time.Duration(min(n, maxRetryAfterSeconds))*time.Second, maxRetryAfter), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxRetryAfter), true
	}
	return 0, false
}

// outcome is how an upstream error ends a step: fail makes our order
// invalid with the problem p; otherwise the step is tried again later.
type outcome struct {
	p            *problem.Error
	fail         bool
	forgetAcct   bool
	upstreamType string
}

// judge maps an error of the upstream CA to what our order gets. Only
// rateLimited keeps (part of) the upstream's words, its wait; every
// other detail stays in the operator's log, since it can name the
// issuer's account or zone setup.
func judge(err error, retryAfter time.Duration) outcome {
	o := judgeProblem(err, retryAfter)
	if errors.Is(err, errInvalid) {
		// The upstream order or authorization is invalid: trying again
		// cannot help.
		o.fail = true
	}
	return o
}

func judgeProblem(err error, retryAfter time.Duration) outcome {
	var ap acme.Problem
	if !errors.As(err, &ap) {
		// The network, a timeout, a response we could not read: the
		// upstream may be back later.
		return outcome{}
	}
	kind := problem.Kind(strings.TrimPrefix(ap.Type, problem.URNPrefix))
	o := outcome{fail: true, upstreamType: string(kind)}
	switch kind {
	case problem.BadNonce:
		o.fail = false
	case problem.AccountDoesNotExist:
		o.fail, o.forgetAcct = false, true
	case problem.RateLimited:
		if retryAfter <= 0 {
			retryAfter = time.Hour
		}
		o.p = problem.RateLimitedErr(retryAfter, "the upstream CA's rate limit is reached; retry after %s", retryAfter.Round(time.Second))
	case problem.CAA:
		o.p = problem.New(problem.CAA, "the upstream CA refused the names because of the zone's CAA records; the issuer's operator must allow it (CAA issue with accounturi and validationmethods=dns-01)")
	case problem.RejectedIdentifier, problem.UnsupportedIdentifier:
		o.p = problem.RejectedIdentifierErr("the upstream CA does not issue for these names; the issuer's log has its reason")
	case problem.BadCSR, problem.BadPublicKey:
		o.p = problem.BadCSRErr("the upstream CA refused the CSR; the issuer's log has its reason")
	case problem.ServerInternal:
		o.fail = false
	case problem.DNS, problem.Connection, problem.IncorrectResponse, problem.Unauthorized, problem.TLS:
		o.p = problem.ServerInternalErr("the upstream CA could not validate the issuer's dns-01 records (%s); the issuer's log has its detail", kind)
	default:
		if ap.Status >= 500 {
			o.fail = false
			break
		}
		o.p = problem.ServerInternalErr("the upstream CA refused the order (%s); the issuer's log has its detail", kind)
	}
	return o
}
