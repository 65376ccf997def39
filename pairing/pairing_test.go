package pairing_test

import (
	"crypto/x509"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/pairing"
	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/ratelimit"
	"github.com/lantls/lantls/store"
)

var shownCode = regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`)

func TestDeviceAuthorizationResponse(t *testing.T) {
	h := newHarness(t, ratelimit.Defaults)
	ar, _ := startPairing(t, h.srv.Client(), h.srv.URL)
	if !shownCode.MatchString(ar.UserCode) {
		t.Errorf("user_code = %q, want XXXX-XXXX from %s", ar.UserCode, pairing.UserCodeAlphabet)
	}
	if ar.VerificationURI != h.srv.URL+"/device" {
		t.Errorf("verification_uri = %q", ar.VerificationURI)
	}
	if want := h.srv.URL + "/device?user_code=" + ar.UserCode; ar.VerificationURIComplete != want {
		t.Errorf("verification_uri_complete = %q, want %q", ar.VerificationURIComplete, want)
	}
	if ar.ExpiresIn != 600 || ar.Interval != 1 {
		t.Errorf("expires_in %d, interval %d; want 600 and 1", ar.ExpiresIn, ar.Interval)
	}
	if len(ar.DeviceCode) < 43 {
		t.Errorf("device_code %q is short", ar.DeviceCode)
	}
	// Only hashes of the codes are stored.
	ps, err := h.svc.List(t.Context(), "")
	if err != nil || len(ps) != 1 {
		t.Fatalf("List = %v, %v", ps, err)
	}
	if p := ps[0]; strings.Contains(p.DeviceCodeHash, ar.DeviceCode) || p.UserCode != strings.ReplaceAll(ar.UserCode, "-", "") {
		t.Errorf("stored pairing %+v", p)
	}
}

func TestLookupAcceptsAnyCaseWithOrWithoutDash(t *testing.T) {
	h := newHarness(t, ratelimit.Defaults)
	ar, key := startPairing(t, h.srv.Client(), h.srv.URL)
	bare := strings.ReplaceAll(ar.UserCode, "-", "")
	for _, code := range []string{ar.UserCode, bare, strings.ToLower(ar.UserCode), strings.ToLower(bare), " " + strings.ToLower(ar.UserCode[:4]) + " " + ar.UserCode[5:]} {
		p, err := h.svc.Lookup(t.Context(), code)
		if err != nil {
			t.Fatalf("Lookup(%q): %v", code, err)
		}
		spki, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
		if p.Label != names.Label(spki) || p.Model != "TV 9000" || p.Hostname != "livingroom-tv" || p.Source != "127.0.0.1" {
			t.Errorf("Lookup(%q) = %+v", code, p)
		}
	}
}

func TestApproveThenCredentialsOnce(t *testing.T) {
	h := newHarness(t, ratelimit.Defaults)
	c := h.srv.Client()
	ar, key := startPairing(t, c, h.srv.URL)
	wantError(t, pollOnce(t, c, h.srv.URL, ar.DeviceCode), "authorization_pending")
	if err := h.svc.Approve(t.Context(), strings.ToLower(ar.UserCode), h.owner.ID, "alice"); err != nil {
		t.Fatalf("Approve: %v", err)
	}
	h.clock.Add(time.Second)
	a := pollOnce(t, c, h.srv.URL, ar.DeviceCode)
	if a.status != http.StatusOK || a.TokenType != "Bearer" || !strings.HasPrefix(a.AccessToken, "lantls_at_") || a.Lantls == nil {
		t.Fatalf("token answer after approval = %d %+v", a.status, a)
	}
	spki, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	label := names.Label(spki)
	cr := a.Lantls
	if cr.Label != label || cr.Zone != "lan.test" || cr.Directory != h.srv.URL+"/acme/directory" ||
		cr.EABKID == "" || len(cr.EABHMACKey) < 43 || strings.Join(cr.Names, " ") != label+".lan.test *."+label+".lan.test" {
		t.Errorf("credentials = %+v", cr)
	}
	d, err := h.store.GetDeviceByLabel(t.Context(), label)
	if err != nil {
		t.Fatal(err)
	}
	if d.OwnerID != h.owner.ID || d.Name != "livingroom-tv" || d.Model != "TV 9000" || d.KeyThumbprint == "" || d.Status != store.StatusActive {
		t.Errorf("paired device = %+v", d)
	}
	// Credentials once (RFC 8628 section 3.5, RFC 6749 section 5.2).
	h.clock.Add(time.Second)
	wantError(t, pollOnce(t, c, h.srv.URL, ar.DeviceCode), "invalid_grant")
	// The code is spent for the UI too.
	if err := h.svc.Approve(t.Context(), ar.UserCode, h.other.ID, "bob"); !errors.Is(err, pairing.ErrDecided) {
		t.Errorf("second Approve = %v, want ErrDecided", err)
	}
	// The pairing is bound to the owner who approved it.
	mine, _ := h.svc.List(t.Context(), h.owner.ID)
	theirs, _ := h.svc.List(t.Context(), h.other.ID)
	if len(mine) != 1 || mine[0].Status != store.StatusRedeemed || mine[0].DeviceID != d.ID || len(theirs) != 0 {
		t.Errorf("List(alice) = %+v, List(bob) = %+v", mine, theirs)
	}
	// The audit log has the approval and the collection.
	log, _ := devices.AuditLog(t.Context(), h.store, devices.Actor{OwnerID: h.owner.ID}, "", 10)
	if len(log) != 2 || log[0].Action != devices.AuditPair || log[1].Action != devices.AuditApprove || log[1].Actor != "alice" {
		t.Errorf("audit log = %+v", log)
	}
	// The same key cannot pair again while its device exists.
	var e tokenAnswer
	resp := post(t, c, h.srv.URL+"/pair/device_authorization", url.Values{"client_id": {"x"}, "public_key": {jwkOf(t, key)}}, &e)
	if resp.StatusCode != 400 || e.Error != "invalid_request" {
		t.Errorf("pairing a paired key again = %s %+v, want invalid_request", resp.Status, e)
	}
}

func TestDenyIsAccessDenied(t *testing.T) {
	h := newHarness(t, ratelimit.Defaults)
	c := h.srv.Client()
	ar, _ := startPairing(t, c, h.srv.URL)
	if err := h.svc.DenyFor(t.Context(), ar.UserCode, h.owner.ID, "alice"); err != nil {
		t.Fatalf("Deny: %v", err)
	}
	wantError(t, pollOnce(t, c, h.srv.URL, ar.DeviceCode), "access_denied")
	if err := h.svc.Approve(t.Context(), ar.UserCode, h.owner.ID, "alice"); !errors.Is(err, pairing.ErrDecided) {
		t.Errorf("Approve after Deny = %v, want ErrDecided", err)
	}
	ds, _ := h.store.ListDevices(t.Context(), store.DeviceFilter{})
	if len(ds) != 0 {
		t.Errorf("a denied pairing made devices %+v", ds)
	}
	log, _ := devices.AuditLog(t.Context(), h.store, devices.Actor{OwnerID: h.owner.ID}, "", 10)
	if len(log) != 1 || log[0].Action != devices.AuditDeny {
		t.Errorf("audit log = %+v", log)
	}
}

func TestExpiredCode(t *testing.T) {
	h := newHarness(t, ratelimit.Defaults)
	c := h.srv.Client()
	ar, _ := startPairing(t, c, h.srv.URL)
	h.clock.Add(10 * time.Minute)
	wantError(t, pollOnce(t, c, h.srv.URL, ar.DeviceCode), "expired_token")
	if _, err := h.svc.Lookup(t.Context(), ar.UserCode); !errors.Is(err, pairing.ErrExpired) {
		t.Errorf("Lookup of an expired code = %v, want ErrExpired", err)
	}
	if err := h.svc.Approve(t.Context(), ar.UserCode, h.owner.ID, "alice"); !errors.Is(err, pairing.ErrExpired) {
		t.Errorf("Approve of an expired code = %v, want ErrExpired", err)
	}
}

func TestSlowDown(t *testing.T) {
	h := newHarness(t, ratelimit.Defaults)
	c := h.srv.Client()
	ar, _ := startPairing(t, c, h.srv.URL)
	wantError(t, pollOnce(t, c, h.srv.URL, ar.DeviceCode), "authorization_pending")
	wantError(t, pollOnce(t, c, h.srv.URL, ar.DeviceCode), "slow_down")
	// From then on the interval is 1 + 5 s (RFC 8628 section 3.5).
	h.clock.Add(2 * time.Second)
	wantError(t, pollOnce(t, c, h.srv.URL, ar.DeviceCode), "slow_down")
	h.clock.Add(11 * time.Second)
	wantError(t, pollOnce(t, c, h.srv.URL, ar.DeviceCode), "authorization_pending")
	ps, _ := h.svc.List(t.Context(), "")
	if ps[0].Interval != 11*time.Second {
		t.Errorf("interval after two slow_downs = %s, want 11s", ps[0].Interval)
	}
}

func TestTokenRequestErrors(t *testing.T) {
	h := newHarness(t, ratelimit.Defaults)
	c := h.srv.Client()
	ar, _ := startPairing(t, c, h.srv.URL)
	for _, tt := range []struct {
		name string
		form url.Values
		want string
	}{
		{"no grant_type", url.Values{"device_code": {ar.DeviceCode}, "client_id": {"lantls-agent"}}, "invalid_request"},
		{"other grant", url.Values{"grant_type": {"authorization_code"}, "device_code": {ar.DeviceCode}, "client_id": {"lantls-agent"}}, "unsupported_grant_type"},
		{"no device_code", url.Values{"grant_type": {pairing.DeviceCodeGrant}, "client_id": {"lantls-agent"}}, "invalid_request"},
		{"no client_id", url.Values{"grant_type": {pairing.DeviceCodeGrant}, "device_code": {ar.DeviceCode}}, "invalid_request"},
		{"other client", url.Values{"grant_type": {pairing.DeviceCodeGrant}, "device_code": {ar.DeviceCode}, "client_id": {"other"}}, "invalid_grant"},
		{"unknown code", url.Values{"grant_type": {pairing.DeviceCodeGrant}, "device_code": {"lantls_dc_nope"}, "client_id": {"lantls-agent"}}, "invalid_grant"},
		{"repeated", url.Values{"grant_type": {pairing.DeviceCodeGrant}, "device_code": {ar.DeviceCode, ar.DeviceCode}, "client_id": {"lantls-agent"}}, "invalid_request"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var a tokenAnswer
			resp := post(t, c, h.srv.URL+"/pair/token", tt.form, &a)
			a.status = resp.StatusCode
			wantError(t, &a, tt.want)
		})
	}
	resp, err := c.Post(h.srv.URL+"/pair/token", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("JSON body: %s, want 400", resp.Status)
	}
}

func TestDeviceAuthorizationRequestErrors(t *testing.T) {
	h := newHarness(t, ratelimit.Defaults)
	c := h.srv.Client()
	_, jwk := newKey(t)
	for _, tt := range []struct {
		name string
		form url.Values
	}{
		{"no client_id", url.Values{"public_key": {jwk}}},
		{"no key", url.Values{"client_id": {"a"}}},
		{"not JSON", url.Values{"client_id": {"a"}, "public_key": {"{"}}},
		{"RSA-less P-384", url.Values{"client_id": {"a"}, "public_key": {`{"kty":"EC","crv":"P-384","x":"AA","y":"AA"}`}}},
		{"private key", url.Values{"client_id": {"a"}, "public_key": {privateJWK(t)}}},
		{"control chars", url.Values{"client_id": {"a"}, "public_key": {jwk}, "model": {"TV\x00"}}},
		{"long hostname", url.Values{"client_id": {"a"}, "public_key": {jwk}, "hostname": {strings.Repeat("a", 300)}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var e tokenAnswer
			resp := post(t, c, h.srv.URL+"/pair/device_authorization", tt.form, &e)
			if resp.StatusCode != 400 || e.Error != "invalid_request" {
				t.Errorf("%s: %s %+v, want 400 invalid_request", tt.name, resp.Status, e)
			}
		})
	}
}

func TestWrongCodesAreLimited(t *testing.T) {
	limits := ratelimit.Defaults
	limits.FailedCodesPerUser = ratelimit.Limit{Name: "failed-codes-per-user", Count: 3, Period: time.Hour}
	limits.FailedCodesPerSource = ratelimit.Limit{Name: "failed-codes-per-source", Count: 5, Period: time.Hour}
	h := newHarness(t, limits)
	ar, _ := startPairing(t, h.srv.Client(), h.srv.URL)
	// One user from one address: the per-user limit ends it after 3.
	ctx := pairing.WithRequester(t.Context(), "192.0.2.1:5555", "user-1")
	for i := range 3 {
		if _, err := h.svc.Lookup(ctx, "BBBB-BBBB"); !errors.Is(err, pairing.ErrNoCode) && !problem.Is(err, problem.RateLimited) {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	if _, err := h.svc.Lookup(ctx, ar.UserCode); !problem.Is(err, problem.RateLimited) {
		t.Errorf("right code past the per-user limit = %v, want rateLimited", err)
	}
	// Another user from the same address still has 2 of the address's 5.
	ctx2 := pairing.WithRequester(t.Context(), "192.0.2.1:6666", "user-2")
	for range 2 {
		h.svc.Lookup(ctx2, "CCCC-CCCC")
	}
	if _, err := h.svc.Lookup(ctx2, ar.UserCode); !problem.Is(err, problem.RateLimited) {
		t.Errorf("right code past the per-source limit = %v, want rateLimited", err)
	}
	if err := h.svc.Approve(ctx2, ar.UserCode, h.owner.ID, "user-2"); !problem.Is(err, problem.RateLimited) {
		t.Errorf("Approve past the per-source limit = %v, want rateLimited", err)
	}
	// Someone else, elsewhere, is not affected.
	ctx3 := pairing.WithRequester(t.Context(), "192.0.2.9:1", "user-3")
	if err := h.svc.Approve(ctx3, ar.UserCode, h.owner.ID, "user-3"); err != nil {
		t.Errorf("Approve by another user elsewhere: %v", err)
	}
}

// TestWrongCodeBurst: concurrent wrong codes enter no more codes than the
// per-user limit allows; each takes its place before the lookup.
func TestWrongCodeBurst(t *testing.T) {
	limits := ratelimit.Defaults
	limits.FailedCodesPerUser = ratelimit.Limit{Name: "failed-codes-per-user", Count: 5, Period: time.Hour}
	h := newHarness(t, limits)
	ctx := pairing.WithRequester(t.Context(), "192.0.2.1:5555", "user-1")
	var wrong, limited atomic.Int32
	var wg sync.WaitGroup
	for range 30 {
		wg.Go(func() {
			_, err := h.svc.Lookup(ctx, "BBBB-BBBB")
			switch {
			case errors.Is(err, pairing.ErrNoCode):
				wrong.Add(1)
			case problem.Is(err, problem.RateLimited):
				limited.Add(1)
			default:
				t.Errorf("Lookup = %v", err)
			}
		})
	}
	wg.Wait()
	if wrong.Load() != 5 {
		t.Errorf("30 concurrent wrong codes: %d looked up, %d limited; want 5 looked up", wrong.Load(), limited.Load())
	}
}

// TestRightCodesAreNotCounted: an owner who enters right codes all day is
// never limited.
func TestRightCodesAreNotCounted(t *testing.T) {
	limits := ratelimit.Defaults
	limits.FailedCodesPerUser = ratelimit.Limit{Name: "failed-codes-per-user", Count: 2, Period: time.Hour}
	h := newHarness(t, limits)
	ar, _ := startPairing(t, h.srv.Client(), h.srv.URL)
	ctx := pairing.WithRequester(t.Context(), "192.0.2.1:5555", "user-1")
	for i := range 5 {
		if _, err := h.svc.Lookup(ctx, ar.UserCode); err != nil {
			t.Fatalf("right code %d: %v", i+1, err)
		}
	}
}

// TestDeviceFailuresDoNotBlockCodeEntry: unknown device codes posted to
// the token endpoint, which a cross-site page can make a visitor's
// browser send, spend the device-side limit only: the visitor can still
// enter a code.
func TestDeviceFailuresDoNotBlockCodeEntry(t *testing.T) {
	limits := ratelimit.Defaults
	limits.FailedPairingsPerSource = ratelimit.Limit{Name: "failed-pairings-per-source", Count: 3, Period: time.Hour}
	h := newHarness(t, limits)
	c := h.srv.Client()
	ar, _ := startPairing(t, c, h.srv.URL)
	for range 5 {
		pollOnce(t, c, h.srv.URL, "no-such-device-code")
	}
	if a := pollOnce(t, c, h.srv.URL, "no-such-device-code"); a.status != http.StatusTooManyRequests {
		t.Fatalf("token endpoint past the device-side limit: %d %s, want 429", a.status, a.Error)
	}
	ctx := pairing.WithRequester(t.Context(), "127.0.0.1:5555", "user-1")
	if _, err := h.svc.Lookup(ctx, ar.UserCode); err != nil {
		t.Errorf("code entry from the same address after device-side failures = %v, want the pairing", err)
	}
}

func TestMalformedCodesCount(t *testing.T) {
	limits := ratelimit.Defaults
	limits.FailedCodesPerUser = ratelimit.Limit{Name: "failed-codes-per-user", Count: 2, Period: time.Hour}
	h := newHarness(t, limits)
	ctx := pairing.WithRequester(t.Context(), "192.0.2.1", "u")
	for _, code := range []string{"", "AAAA-AAAA"} { // A is not in the alphabet
		if _, err := h.svc.Lookup(ctx, code); !errors.Is(err, pairing.ErrNoCode) {
			t.Errorf("Lookup(%q) = %v, want ErrNoCode", code, err)
		}
	}
	if _, err := h.svc.Lookup(ctx, "BBBB-BBBB"); !problem.Is(err, problem.RateLimited) {
		t.Errorf("third wrong code = %v, want rateLimited", err)
	}
}

func TestLateApprovalCanBeCollected(t *testing.T) {
	h := newHarness(t, ratelimit.Defaults)
	c := h.srv.Client()
	ar, _ := startPairing(t, c, h.srv.URL)
	h.clock.Add(10*time.Minute - time.Second)
	if err := h.svc.Approve(t.Context(), ar.UserCode, h.owner.ID, "alice"); err != nil {
		t.Fatalf("Approve a second before expiry: %v", err)
	}
	h.clock.Add(30 * time.Second)
	if a := pollOnce(t, c, h.srv.URL, ar.DeviceCode); a.status != http.StatusOK {
		t.Fatalf("collect 29 s after the code's expiry, 30 s after approval: %d %s", a.status, a.Error)
	}
}

func TestApprovedButNeverCollectedExpires(t *testing.T) {
	h := newHarness(t, ratelimit.Defaults)
	c := h.srv.Client()
	ar, _ := startPairing(t, c, h.srv.URL)
	if err := h.svc.Approve(t.Context(), ar.UserCode, h.owner.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(10 * time.Minute)
	wantError(t, pollOnce(t, c, h.srv.URL, ar.DeviceCode), "expired_token")
}
