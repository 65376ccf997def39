package pairing_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/lantls/lantls/deviceapi/deviceserver"
	"github.com/lantls/lantls/pairing"
	"github.com/lantls/lantls/ratelimit"
	"github.com/lantls/lantls/store"
	"github.com/lantls/lantls/store/sqlite"
)

// clock is a settable time for tests of expiry and polling.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// harness is a pairing service on a real SQLite store behind a real HTTP
// server on loopback.
type harness struct {
	svc   *pairing.Service
	store store.Store
	clock *clock
	srv   *httptest.Server
	owner *store.Owner
	other *store.Owner
}

func newHarness(t testing.TB, limits ratelimit.Limits) *harness {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "lantls.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &harness{store: st, clock: &clock{now: time.Now()}}
	mux := http.NewServeMux()
	h.srv = httptest.NewServer(mux)
	t.Cleanup(h.srv.Close)
	h.svc, err = pairing.New(pairing.Config{Store: st, Zone: "lan.test", BaseURL: h.srv.URL, Limits: limits, Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	mux.HandleFunc("POST /pair/device_authorization", h.svc.DeviceAuthorization)
	mux.HandleFunc("POST /pair/token", h.svc.Token)
	// The device API, for the tokens pairing hands out.
	api, err := deviceserver.New(deviceserver.Config{Store: st, Zone: "lan.test", Limits: limits, Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	api.Routes(mux.Handle)
	if h.owner, err = st.EnsureOwner(t.Context(), "alice"); err != nil {
		t.Fatal(err)
	}
	if h.other, err = st.EnsureOwner(t.Context(), "bob"); err != nil {
		t.Fatal(err)
	}
	return h
}

// newKey returns a device account key and its public JWK as JSON.
func newKey(t testing.TB) (*ecdsa.PrivateKey, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(&jose.JSONWebKey{Key: &key.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	return key, string(b)
}

// post sends a form and decodes the JSON answer into out (if not nil).
func post(t testing.TB, c *http.Client, u string, form url.Values, out any) *http.Response {
	t.Helper()
	resp, err := c.Post(u, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("POST %s: %s %q is not JSON: %v", u, resp.Status, body, err)
		}
	}
	return resp
}

// startPairing runs a device authorization request for a new key.
func startPairing(t testing.TB, c *http.Client, base string) (*pairing.AuthorizationResponse, *ecdsa.PrivateKey) {
	t.Helper()
	key, jwk := newKey(t)
	var ar pairing.AuthorizationResponse
	resp := post(t, c, base+"/pair/device_authorization", url.Values{
		"client_id": {"lantls-agent"}, "public_key": {jwk}, "model": {"TV 9000"}, "hostname": {"livingroom-tv"},
	}, &ar)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("device_authorization: %s %+v", resp.Status, ar)
	}
	return &ar, key
}

// tokenAnswer is either a TokenResponse or an OAuth error.
type tokenAnswer struct {
	pairing.TokenResponse
	Error       string `json:"error"`
	Description string `json:"error_description"`
	status      int
}

func pollOnce(t testing.TB, c *http.Client, base, deviceCode string) *tokenAnswer {
	t.Helper()
	var a tokenAnswer
	resp := post(t, c, base+"/pair/token", url.Values{
		"grant_type": {pairing.DeviceCodeGrant}, "device_code": {deviceCode}, "client_id": {"lantls-agent"},
	}, &a)
	a.status = resp.StatusCode
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("token endpoint Cache-Control = %q, want no-store", cc)
	}
	return &a
}

func wantError(t *testing.T, a *tokenAnswer, code string) {
	t.Helper()
	if a.Error != code || a.status != http.StatusBadRequest || a.AccessToken != "" {
		t.Fatalf("token answer = %d %q (%s), want 400 %q", a.status, a.Error, a.Description, code)
	}
}

func jwkOf(t *testing.T, key *ecdsa.PrivateKey) string {
	t.Helper()
	b, err := json.Marshal(&jose.JSONWebKey{Key: &key.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func privateJWK(t *testing.T) string {
	t.Helper()
	key, _ := newKey(t)
	b, err := json.Marshal(&jose.JSONWebKey{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// pair runs a whole pairing approved by owner and returns the credentials.
func (h *harness) pair(t *testing.T, owner *store.Owner) (*pairing.TokenResponse, *ecdsa.PrivateKey) {
	t.Helper()
	c := h.srv.Client()
	ar, key := startPairing(t, c, h.srv.URL)
	if err := h.svc.Approve(t.Context(), ar.UserCode, owner.ID, owner.Name); err != nil {
		t.Fatalf("Approve: %v", err)
	}
	a := pollOnce(t, c, h.srv.URL, ar.DeviceCode)
	if a.status != http.StatusOK {
		t.Fatalf("token after approval: %d %s", a.status, a.Error)
	}
	return &a.TokenResponse, key
}
