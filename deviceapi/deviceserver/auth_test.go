package deviceserver_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lantls/lantls/deviceapi"
	"github.com/lantls/lantls/deviceapi/deviceserver"
	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/internal/testwait"
	"github.com/lantls/lantls/problem"
)

// routes are the device API's routes, each with a body it accepts.
var routes = []struct{ method, path, body string }{
	{"GET", deviceapi.PathPolicy, ""},
	{"POST", deviceapi.PathToken, ""},
	{"PUT", deviceapi.PathAddresses, `{"addresses": []}`},
	{"PUT", deviceapi.PathStatus, `{"last_error": ""}`},
}

// wantUnauthorized fails t unless the answer is a 401 unauthorized
// problem with the Bearer challenge of RFC 6750 section 3.
func wantUnauthorized(t *testing.T, what string, resp *http.Response, body string) {
	t.Helper()
	wantProblem(t, what, resp, body, http.StatusUnauthorized, problem.Unauthorized)
	if c := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(c, "Bearer ") {
		t.Errorf("%s: WWW-Authenticate %q, want the Bearer challenge", what, c)
	}
}

// TestBearerToken: every route refuses a request without the device's
// token, with a malformed, unknown or lengthened one, or in another
// scheme, before it reads the body.
func TestBearerToken(t *testing.T) {
	h := newHarness(t, deviceserver.Config{})
	_, token := h.device(t, "alice")
	for _, rt := range routes {
		for _, auth := range []string{"", "Bearer", "Bearer lantls_at_nope", "Bearer " + token + "x", "Bearer " + strings.TrimPrefix(token, "lantls_at_"),
			"Basic YTpi", "Token " + token} {
			resp, body := h.do(t, rt.method, rt.path, "", rt.body, "Authorization", auth)
			wantUnauthorized(t, rt.method+" "+rt.path+" with "+auth, resp, body)
		}
		// The scheme is case-insensitive (RFC 9110 section 11.1).
		if resp, body := h.do(t, rt.method, rt.path, "", rt.body, "Authorization", "bearer "+token); resp.StatusCode >= 300 {
			t.Errorf("%s %s with the scheme in lower case: %s %s", rt.method, rt.path, resp.Status, body)
		}
		_, token = h.device(t, "alice") // the token route revoked it
	}
}

// TestUnpairedDevice: the token of an unpaired device opens nothing.
func TestUnpairedDevice(t *testing.T) {
	h := newHarness(t, deviceserver.Config{})
	d, token := h.device(t, "alice")
	if _, err := devices.Unpair(t.Context(), h.store, devices.Actor{OwnerID: d.OwnerID, Name: "alice"}, d.ID, d.CreatedAt); err != nil {
		t.Fatal(err)
	}
	for _, rt := range routes {
		resp, body := h.do(t, rt.method, rt.path, token, rt.body)
		wantUnauthorized(t, rt.method+" "+rt.path, resp, body)
	}
}

// TestInternalError: a failure that is not a problem (here, a closed
// store) is a 500 serverInternal problem without its text, which goes to
// the log instead.
func TestInternalError(t *testing.T) {
	var log testwait.Buffer
	h := newHarness(t, deviceserver.Config{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	_, token := h.device(t, "alice")
	h.store.Close()
	resp, body := h.do(t, "GET", deviceapi.PathPolicy, token, "")
	wantProblem(t, "with a closed store", resp, body, http.StatusInternalServerError, problem.ServerInternal)
	if strings.Contains(body, "closed") {
		t.Errorf("the answer tells the error: %s", body)
	}
	log.Wait(t, 5*time.Second, "device API request failed")
}
