package deviceserver_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lantls/lantls/deviceapi/deviceserver"
	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/ratelimit"
	"github.com/lantls/lantls/store"
	"github.com/lantls/lantls/store/sqlite"
)

// harness is the device API on a real SQLite store behind a real HTTP
// server on loopback.
type harness struct {
	store store.Store
	srv   *httptest.Server
	// refreshes counts the calls of Config.AddressesChanged.
	refreshes atomic.Int32
}

// newHarness serves the device API with cfg, whose Store, Zone (lan.test)
// and AddressesChanged it fills; zero Limits are ratelimit.Defaults.
func newHarness(t *testing.T, cfg deviceserver.Config) *harness {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "lantls.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &harness{store: st}
	cfg.Store, cfg.Zone = st, "lan.test"
	if cfg.Limits == (ratelimit.Limits{}) {
		cfg.Limits = ratelimit.Defaults
	}
	cfg.AddressesChanged = func(context.Context) error { h.refreshes.Add(1); return nil }
	api, err := deviceserver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewServer(api.Handler())
	t.Cleanup(h.srv.Close)
	return h
}

// writesPerHour is the default limits with DeviceWritesPerDevice n an
// hour.
func writesPerHour(n int) ratelimit.Limits {
	limits := ratelimit.Defaults
	limits.DeviceWritesPerDevice = ratelimit.Limit{Name: "device-writes-per-device", Count: n, Period: time.Hour}
	return limits
}

// device makes an active device of owner with a bearer token, as pairing
// does, and returns it with the token.
func (h *harness) device(t *testing.T, owner string) (*store.Device, string) {
	t.Helper()
	ctx := t.Context()
	o, err := h.store.EnsureOwner(ctx, owner)
	if err != nil {
		t.Fatal(err)
	}
	d := &store.Device{Label: names.RandomLabel(), OwnerID: o.ID, Name: "TV", Status: store.StatusActive}
	if err := h.store.CreateDevice(ctx, d); err != nil {
		t.Fatal(err)
	}
	var token string
	err = h.store.Update(ctx, func(tx store.Tx) error {
		token, err = deviceserver.NewToken(ctx, tx, d.ID, d.CreatedAt)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return d, token
}

// do sends method path with body (JSON unless a Content-Type is among
// the header pairs), the bearer token when not empty and the headers, and
// returns the response with its body read.
func (h *harness) do(t *testing.T, method, path, token, body string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
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
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// wantProblem fails t unless the answer is an RFC 7807 problem of kind
// with status.
func wantProblem(t *testing.T, what string, resp *http.Response, body string, status int, kind problem.Kind) {
	t.Helper()
	if resp.StatusCode != status || resp.Header.Get("Content-Type") != "application/problem+json" ||
		!strings.Contains(body, `"`+problem.URNPrefix+string(kind)+`"`) || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("%s: %s %q %s, want %d %s as application/problem+json, no-store", what, resp.Status, resp.Header.Get("Content-Type"), body, status, kind)
	}
}
