package pairing_test

import (
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/lantls/lantls/deviceapi"
	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/ratelimit"
	"github.com/lantls/lantls/store"
)

// get sends GET path with the bearer token (if not empty) and extra
// headers, and returns the response with its body read.
func get(t *testing.T, h *harness, method, path, token string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, h.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func wantUnauthorized(t *testing.T, resp *http.Response, body []byte) {
	t.Helper()
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") ||
		resp.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(body), "urn:ietf:params:acme:error:unauthorized") {
		t.Fatalf("got %s %q %q, want 401 with a Bearer challenge and an unauthorized problem", resp.Status, resp.Header.Get("WWW-Authenticate"), body)
	}
}

// TestUnpairEndsCredentials: the bearer token and EAB key a pairing
// handed out work until the owner unpairs the device, and its addresses
// go with it.
func TestUnpairEndsCredentials(t *testing.T) {
	h := newHarness(t, ratelimit.Defaults)
	tok, _ := h.pair(t, h.owner)
	if resp, body := get(t, h, "GET", deviceapi.PathPolicy, tok.AccessToken); resp.StatusCode != http.StatusOK {
		t.Fatalf("policy with the token of the pairing: %s %s", resp.Status, body)
	}
	d, _ := h.store.GetDeviceByLabel(t.Context(), tok.Lantls.Label)
	if err := h.store.SetDeviceAddresses(t.Context(), d.ID, []netip.Addr{netip.MustParseAddr("192.168.1.20")}); err != nil {
		t.Fatal(err)
	}
	u, err := devices.Unpair(t.Context(), h.store, devices.Actor{OwnerID: h.owner.ID, Name: "alice"}, d.ID, h.clock.Now())
	if err != nil {
		t.Fatalf("Unpair: %v", err)
	}
	if u.Tokens != 1 {
		t.Errorf("Unpair revoked %d tokens, want 1", u.Tokens)
	}
	if dns, err := h.store.GetDeviceDNS(t.Context(), d.ID); err != nil || len(dns.Addresses) != 0 {
		t.Errorf("addresses after unpair = %+v, %v; want none", dns, err)
	}
	resp, body := get(t, h, "GET", deviceapi.PathPolicy, tok.AccessToken)
	wantUnauthorized(t, resp, body)
	// Its EAB key, unused, is disabled.
	k, err := h.store.GetEABKey(t.Context(), tok.Lantls.EABKID)
	if err != nil || !k.Disabled {
		t.Errorf("EAB key after unpair = %+v, %v; want disabled", k, err)
	}
}

// TestOwnerBCannotTouchOwnerA walks owner B through every device function
// against owner A's device: each must fail as if the device did not exist,
// and change nothing.
func TestOwnerBCannotTouchOwnerA(t *testing.T) {
	h := newHarness(t, ratelimit.Defaults)
	tokA, _ := h.pair(t, h.owner)
	tokB, _ := h.pair(t, h.other)
	ctx := t.Context()
	devA, _ := h.store.GetDeviceByLabel(ctx, tokA.Lantls.Label)
	bob := devices.Actor{OwnerID: h.other.ID, Name: "bob"}
	if _, err := devices.Get(ctx, h.store, bob, devA.ID); !errors.Is(err, devices.ErrNotFound) {
		t.Errorf("Get = %v", err)
	}
	if _, err := devices.Rename(ctx, h.store, bob, devA.ID, "mine now"); !errors.Is(err, devices.ErrNotFound) {
		t.Errorf("Rename = %v", err)
	}
	if _, err := devices.SetGrants(ctx, h.store, bob, devA.ID, []string{"https://evil.example"}); !errors.Is(err, devices.ErrNotFound) {
		t.Errorf("SetGrants = %v", err)
	}
	if _, err := devices.Grants(ctx, h.store, bob, devA.ID); !errors.Is(err, devices.ErrNotFound) {
		t.Errorf("Grants = %v", err)
	}
	if _, err := devices.Unpair(ctx, h.store, bob, devA.ID, time.Now()); !errors.Is(err, devices.ErrNotFound) {
		t.Errorf("Unpair = %v", err)
	}
	list, _ := devices.List(ctx, h.store, bob)
	if len(list) != 1 || list[0].OwnerID != h.other.ID {
		t.Errorf("List(bob) = %+v, want only bob's device", list)
	}
	log, _ := devices.AuditLog(ctx, h.store, bob, "", 100)
	for _, e := range log {
		if e.OwnerID != h.other.ID {
			t.Errorf("bob's audit log has %+v", e)
		}
	}
	ps, _ := h.svc.List(ctx, h.other.ID)
	for _, p := range ps {
		if p.OwnerID != h.other.ID {
			t.Errorf("bob's pairings include %+v", p)
		}
	}
	// Owner B's token reads B's policy, never A's.
	resp, body := get(t, h, "GET", deviceapi.PathPolicy, tokB.AccessToken)
	if resp.StatusCode != 200 || !strings.Contains(string(body), tokB.Lantls.Label) || strings.Contains(string(body), tokA.Lantls.Label) {
		t.Errorf("B's policy = %s %q", resp.Status, body)
	}
	// A's device is untouched.
	after, _ := h.store.GetDevice(ctx, devA.ID)
	if after.Status != store.StatusActive || after.Name != devA.Name {
		t.Errorf("A's device changed: %+v", after)
	}
	// An admin may act on every device.
	admin := devices.Actor{Name: "root", Admin: true}
	if _, err := devices.Rename(ctx, h.store, admin, devA.ID, "Kitchen TV"); err != nil {
		t.Errorf("admin Rename: %v", err)
	}
	if all, _ := devices.List(ctx, h.store, admin); len(all) != 2 {
		t.Errorf("admin List = %d devices, want 2", len(all))
	}
}
