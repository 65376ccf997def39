package deviceserver_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/lantls/lantls/deviceapi"
	"github.com/lantls/lantls/deviceapi/deviceserver"
	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/problem"
)

// TestRotateToken: the new token works and every older one, the one
// that asked included, stops; the owner's audit log records it.
func TestRotateToken(t *testing.T) {
	h := newHarness(t, deviceserver.Config{})
	d, token := h.device(t, "alice")
	resp, body := h.do(t, "POST", deviceapi.PathToken, token, "")
	var rot deviceapi.RotateTokenResponse
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" || json.Unmarshal([]byte(body), &rot) != nil ||
		!strings.HasPrefix(rot.AccessToken, "lantls_at_") || rot.AccessToken == token || rot.TokenType != "Bearer" {
		t.Fatalf("rotate = %s %q %s", resp.Status, resp.Header.Get("Cache-Control"), body)
	}
	resp, body = h.do(t, "GET", deviceapi.PathPolicy, token, "")
	wantUnauthorized(t, "the old token", resp, body)
	if resp, body := h.do(t, "GET", deviceapi.PathPolicy, rot.AccessToken, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("policy with the new token: %s %s", resp.Status, body)
	}
	log, err := devices.AuditLog(t.Context(), h.store, devices.Actor{OwnerID: d.OwnerID, Name: "alice"}, "", 10)
	if err != nil || len(log) == 0 || log[0].Action != devices.AuditToken || log[0].Actor != "device "+d.Label {
		t.Errorf("audit log after the rotation: %+v, %v", log, err)
	}
}

// TestRotateTokenLimited: rotations count against the device's writes; one
// past the limit is a rateLimited problem with Retry-After, and the token
// that asked keeps working.
func TestRotateTokenLimited(t *testing.T) {
	h := newHarness(t, deviceserver.Config{Limits: writesPerHour(2)})
	_, token := h.device(t, "alice")
	for range 2 {
		resp, body := h.do(t, "POST", deviceapi.PathToken, token, "")
		var rot deviceapi.RotateTokenResponse
		if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &rot) != nil {
			t.Fatalf("rotate: %s %s", resp.Status, body)
		}
		token = rot.AccessToken
	}
	resp, body := h.do(t, "POST", deviceapi.PathToken, token, "")
	wantProblem(t, "a rotation past the limit", resp, body, http.StatusTooManyRequests, problem.RateLimited)
	if resp.Header.Get("Retry-After") == "" {
		t.Error("a rotation past the limit has no Retry-After")
	}
	if resp, body := h.do(t, "GET", deviceapi.PathPolicy, token, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("the token after a refused rotation: %s %s", resp.Status, body)
	}
}
