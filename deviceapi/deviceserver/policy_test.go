package deviceserver_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lantls/lantls/deviceapi"
	"github.com/lantls/lantls/deviceapi/deviceserver"
	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/names"
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

// TestPolicyRevoked: the serials of the device's revoked certificates
// that have not expired, so that a device serving one replaces it at
// once; a revocation changes the ETag.
func TestPolicyRevoked(t *testing.T) {
	h := newHarness(t, deviceserver.Config{})
	d, token := h.device(t, "alice")
	ctx := t.Context()
	now := time.Now()
	acct := &store.Account{ID: store.NewID(now), DeviceID: d.ID, KeyThumbprint: "thumb-" + d.Label, KeyJWK: []byte("{}"), Status: store.StatusValid, CreatedAt: now}
	if err := h.store.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	certs := []struct {
		serial   string
		notAfter time.Time
		revoke   bool
	}{
		{"a1", now.Add(time.Hour), false},
		{"b2", now.Add(time.Hour), true},
		{"c3", now.Add(-time.Hour), true}, // expired: no device serves it
	}
	for _, c := range certs {
		o := &store.Order{ID: store.NewID(now), AccountID: acct.ID, DeviceID: d.ID, Status: store.StatusValid,
			Identifiers: []store.Identifier{{Type: "dns", Value: names.DeviceName(d.Label, "lan.test")}}, Expires: now.Add(time.Hour), CreatedAt: now}
		if err := h.store.CreateOrder(ctx, o, nil); err != nil {
			t.Fatal(err)
		}
		err := h.store.CreateCertificate(ctx, &store.Certificate{Serial: c.serial, DeviceID: d.ID, AccountID: acct.ID, OrderID: o.ID,
			Names: []string{names.DeviceName(d.Label, "lan.test")}, NotBefore: now.Add(-2 * time.Hour), NotAfter: c.notAfter, ChainPEM: []byte("-"), CreatedAt: now})
		if err != nil {
			t.Fatal(err)
		}
	}
	resp, _ := h.do(t, "GET", deviceapi.PathPolicy, token, "")
	etag := resp.Header.Get("ETag")
	for _, c := range certs {
		if c.revoke {
			if err := h.store.RevokeCertificate(ctx, c.serial, 1, now); err != nil {
				t.Fatal(err)
			}
		}
	}
	resp, body := h.do(t, "GET", deviceapi.PathPolicy, token, "", "If-None-Match", etag)
	var p deviceapi.Policy
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &p) != nil || !slices.Equal(p.Revoked, []string{"b2"}) {
		t.Errorf("policy after the revocations = %s %s, want 200 with revoked [b2]", resp.Status, body)
	}
}
