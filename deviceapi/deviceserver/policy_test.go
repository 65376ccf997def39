package deviceserver_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/lantls/lantls/deviceapi"
	"github.com/lantls/lantls/deviceapi/deviceserver"
	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/store"
)

// TestPolicy: the device's label and origin grants, with a strong ETag
// that a poll sends back to get 304 until the owner changes the grants.
func TestPolicy(t *testing.T) {
	h := newHarness(t, deviceserver.Config{})
	d, token := h.device(t, "alice")
	resp, body := h.do(t, "GET", deviceapi.PathPolicy, token, "")
	var p deviceapi.Policy
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" || json.Unmarshal([]byte(body), &p) != nil ||
		p.Label != d.Label || p.Origins == nil || len(p.Origins) != 0 || p.Revoked == nil || len(p.Revoked) != 0 || p.Names != nil {
		t.Fatalf("policy = %s %q", resp.Status, body)
	}
	etag := resp.Header.Get("ETag")
	if !strings.HasPrefix(etag, `"`) || resp.Header.Get("Cache-Control") != "private, max-age=60" || resp.Header.Get("Vary") != "Authorization" {
		t.Errorf("policy headers: ETag %q, Cache-Control %q, Vary %q", etag, resp.Header.Get("Cache-Control"), resp.Header.Get("Vary"))
	}
	for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
		if resp, body := h.do(t, "GET", deviceapi.PathPolicy, token, "", "If-None-Match", inm); resp.StatusCode != http.StatusNotModified || body != "" {
			t.Errorf("If-None-Match %s: %s %q, want 304 without a body", inm, resp.Status, body)
		}
	}
	if resp, _ := h.do(t, "GET", deviceapi.PathPolicy, token, "", "If-None-Match", `"other"`); resp.StatusCode != http.StatusOK {
		t.Errorf("If-None-Match of another ETag: %s, want 200", resp.Status)
	}
	alice := devices.Actor{OwnerID: d.OwnerID, Name: "alice"}
	if _, err := devices.SetGrants(t.Context(), h.store, alice, d.ID, []string{"https://app.vendor.example", "https://b.example:8443"}); err != nil {
		t.Fatal(err)
	}
	resp, body = h.do(t, "GET", deviceapi.PathPolicy, token, "", "If-None-Match", etag)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == etag || json.Unmarshal([]byte(body), &p) != nil ||
		strings.Join(p.Origins, " ") != "https://app.vendor.example https://b.example:8443" {
		t.Errorf("policy after new grants = %s %q (ETag %q)", resp.Status, body, resp.Header.Get("ETag"))
	}
}

// TestPolicyNames: the owner's short names for the device that the signer
// adds to certificates, and only those.
func TestPolicyNames(t *testing.T) {
	h := newHarness(t, deviceserver.Config{AddsName: func(name string) bool { return strings.HasSuffix(name, ".lan.test") }})
	d, token := h.device(t, "alice")
	if err := h.store.SetDeviceShortName(t.Context(), d.ID, store.ShortName{Name: "tv", MDNS: true}); err != nil {
		t.Fatal(err)
	}
	resp, body := h.do(t, "GET", deviceapi.PathPolicy, token, "")
	var p deviceapi.Policy
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &p) != nil || !slices.Equal(p.Names, []string{"tv.lan.test"}) {
		t.Errorf("policy = %s %s, want the names [tv.lan.test] (tv.local is not signed)", resp.Status, body)
	}
}

// TestPolicyTenancy: each device's token reads its own policy, never
// another owner's device's.
func TestPolicyTenancy(t *testing.T) {
	h := newHarness(t, deviceserver.Config{})
	a, _ := h.device(t, "alice")
	b, tokenB := h.device(t, "bob")
	resp, body := h.do(t, "GET", deviceapi.PathPolicy, tokenB, "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, b.Label) || strings.Contains(body, a.Label) {
		t.Errorf("bob's policy = %s %s", resp.Status, body)
	}
}
