package acme_test

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lantls/lantls/acme"
	"github.com/lantls/lantls/acme/internal/acmetest"
	"github.com/lantls/lantls/ca"
	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
	"github.com/lantls/lantls/store/sqlite"
)

func TestDirectoryAndNewNonce(t *testing.T) {
	h := newHarness(t)
	res := get(t, h, h.dirURL)
	if res.Status != http.StatusOK || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("directory: %v", res)
	}
	var dir map[string]any
	if err := res.Decode(&dir); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"newNonce", "newAccount", "newOrder", "revokeCert", "keyChange", "renewalInfo"} {
		if u, _ := dir[k].(string); !strings.HasPrefix(u, h.ts.URL+"/acme/") {
			t.Errorf("directory %s = %v", k, dir[k])
		}
	}
	if _, ok := dir["newAuthz"]; ok {
		t.Errorf("directory has newAuthz")
	}
	meta, _ := dir["meta"].(map[string]any)
	profiles, _ := meta["profiles"].(map[string]any)
	if meta["externalAccountRequired"] != true || profiles["default"] == nil || profiles["shortlived"] == nil {
		t.Errorf("meta = %v", meta)
	}

	for _, tt := range []struct {
		method string
		status int
	}{{http.MethodHead, http.StatusOK}, {http.MethodGet, http.StatusNoContent}} {
		req, _ := http.NewRequest(tt.method, h.ts.URL+"/acme/new-nonce", nil)
		r, err := h.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != tt.status || r.Header.Get("Replay-Nonce") == "" || r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s new-nonce: %d %v", tt.method, r.StatusCode, r.Header)
		}
	}
	res = get(t, h, h.ts.URL+"/acme/new-nonce")
	checkCommonHeaders(t, h, res)
}

func TestNonceExpiry(t *testing.T) {
	h := newHarness(t)
	c := h.account(h.newDevice(""))
	n, err := c.Nonce(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Hour + time.Second)
	res, err := c.Do(h.ctx, acmetest.Request{URL: c.KID, Nonce: n})
	wantProblem(t, res, err, problem.BadNonce, http.StatusBadRequest)
}

// TestNonceKeySurvivesRestart checks that a second server on the same store
// accepts nonces the first one minted, as instances behind one load
// balancer must.
func TestNonceKeySurvivesRestart(t *testing.T) {
	h := newHarness(t)
	c := h.account(h.newDevice(""))
	n, err := c.Nonce(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	second, err := acme.New(h.ctx, acme.Config{
		Store: h.store, Signer: h.ca, Zone: testZone, BaseURL: h.ts.URL,
		IssuerCert: h.ca.Intermediate(), Registerer: h.reg, Now: h.clock.Now,
	})
	if err != nil {
		t.Fatalf("second server: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/acme/", second.Handler())
	f, err := acmetest.Sign(c.Key, "ES256", map[string]any{"kid": c.KID, "nonce": n, "url": c.KID}, nil)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, c.KID, strings.NewReader(string(f.JSON())))
	req.Header.Set("Content-Type", "application/jose+json")
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("second server: %d %s", rec.Code, rec.Body)
	}
}

func TestNewOrderNormalizesNames(t *testing.T) {
	h := newHarness(t)
	dev := h.newDevice("")
	c := h.account(dev)
	base := dev.name("")
	o := h.newOrder(c, map[string]any{"identifiers": dnsIDs(strings.ToUpper(base)+".", base, "*."+base, "*."+strings.ToUpper(base))})
	if len(o.Identifiers) != 2 || o.Identifiers[0].Value != base || o.Identifiers[1].Value != "*."+base {
		t.Errorf("identifiers = %v", o.Identifiers)
	}
	if o.Status != "ready" || len(o.Authorizations) != 2 || o.Profile != "default" {
		t.Errorf("order = %+v", o)
	}
	if left := time.Until(o.Expires); left < 23*time.Hour || left > 25*time.Hour {
		t.Errorf("order expires in %v", left)
	}
	short := h.newOrder(c, map[string]any{"identifiers": dnsIDs(base), "profile": "shortlived"})
	_, chain := h.issue(c, base)
	if life := chain[0].NotAfter.Sub(chain[0].NotBefore); life != 47*24*time.Hour {
		t.Errorf("default lifetime = %v", life)
	}
	done := h.finalize(c, short, newKey(t))
	leaf := h.download(c, done.Certificate)[0]
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life != 160*time.Hour {
		t.Errorf("shortlived lifetime = %v", life)
	}
	if got := h.counter("lantls_acme_certificates_issued_total", "profile", "shortlived"); got != 1 {
		t.Errorf("shortlived issued counter = %v", got)
	}
}

func TestAuthorizationAndChallenge(t *testing.T) {
	h := newHarness(t)
	dev := h.newDevice("")
	c := h.account(dev)
	o := h.newOrder(c, map[string]any{"identifiers": dnsIDs("*." + dev.name(""))})

	type chall struct {
		Type, URL, Token, Status string
		Validated                time.Time
	}
	var authz struct {
		Identifier store.Identifier
		Status     string
		Expires    time.Time
		Challenges []chall
		Wildcard   bool
	}
	res, err := c.Post(h.ctx, o.Authorizations[0], nil)
	if err != nil || res.Status != http.StatusOK {
		t.Fatalf("authz: %v %v", res, err)
	}
	if err := res.Decode(&authz); err != nil {
		t.Fatal(err)
	}
	if authz.Status != "valid" || !authz.Wildcard || authz.Identifier.Value != dev.name("") || len(authz.Challenges) != 1 {
		t.Fatalf("authz = %+v", authz)
	}
	ch := authz.Challenges[0]
	if ch.Type != "dns-01" || ch.Status != "valid" || len(ch.Token) < 22 || ch.Validated.IsZero() || !strings.HasSuffix(ch.URL, "/dns-01") {
		t.Errorf("challenge = %+v", ch)
	}

	// Answering a valid challenge leaves it valid.
	res, err = c.Post(h.ctx, ch.URL, map[string]any{})
	if err != nil || res.Status != http.StatusOK || linkRel(res.Header, "up") != o.Authorizations[0] {
		t.Fatalf("challenge: %v %v", res, err)
	}
	var got chall
	if err := res.Decode(&got); err != nil || got.Status != "valid" || got.URL != ch.URL {
		t.Errorf("challenge = %+v %v", got, err)
	}

	// Only the owner may read or deactivate it.
	other := h.account(dev)
	res, err = other.Post(h.ctx, o.Authorizations[0], nil)
	wantProblem(t, res, err, problem.Unauthorized, http.StatusUnauthorized)
	res, err = other.Post(h.ctx, o.Authorizations[0], map[string]string{"status": "deactivated"})
	wantProblem(t, res, err, problem.Unauthorized, http.StatusUnauthorized)

	res, err = c.Post(h.ctx, o.Authorizations[0], map[string]string{"status": "deactivated"})
	if err != nil || res.Status != http.StatusOK {
		t.Fatalf("deactivate: %v %v", res, err)
	}
	if err := res.Decode(&authz); err != nil || authz.Status != "deactivated" {
		t.Errorf("deactivated authz = %+v %v", authz, err)
	}
	res, err = c.Post(h.ctx, o.Authorizations[0], map[string]string{"status": "deactivated"})
	wantProblem(t, res, err, problem.Malformed, http.StatusBadRequest)
	res, err = c.Post(h.ctx, strings.TrimSuffix(ch.URL, "dns-01")+"http-01", nil)
	wantProblem(t, res, err, problem.Malformed, http.StatusNotFound)
}

func TestRenewalInfoWindows(t *testing.T) {
	h := newHarness(t)
	dev := h.newDevice("")
	c := h.account(dev)
	_, fresh := h.issue(c, dev.name(""))
	_, revoked := h.issue(c, dev.name(""))
	res, err := c.Post(h.ctx, c.Dir.RevokeCert, map[string]any{"certificate": b64(revoked[0].Raw), "reason": 4})
	if err != nil || res.Status != http.StatusOK {
		t.Fatalf("revoke: %v %v", res, err)
	}
	now := h.clock.Now()
	leaf := fresh[0]
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	tests := []struct {
		name       string
		certID     string
		start, end time.Time
		within     bool // start <= now < end
	}{
		{name: "fresh", certID: certID(t, leaf), start: leaf.NotAfter.Add(-life / 3), end: leaf.NotAfter.Add(-life / 6)},
		{name: "revoked", certID: certID(t, revoked[0]), within: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := renewalInfo(t, h, tt.certID)
			if tt.within {
				if w.Start.After(now) || !w.End.After(now) {
					t.Errorf("window %+v does not contain now %v", w, now)
				}
				return
			}
			if !w.Start.Equal(tt.start) || !w.End.Equal(tt.end) {
				t.Errorf("window = %+v, want %v..%v", w, tt.start, tt.end)
			}
			if !w.Start.After(now) {
				t.Errorf("a fresh certificate's window has started")
			}
		})
	}
	res = get(t, h, c.Dir.RenewalInfo+"/"+b64(leaf.AuthorityKeyId)+"."+b64([]byte{0x7f, 1, 2}))
	if p := res.Problem(); p == nil || res.Status != http.StatusNotFound || p.Type != problem.URNPrefix+"malformed" {
		t.Errorf("unknown serial: %v", res)
	}
}

func TestRevokeWithCertificateKey(t *testing.T) {
	h := newHarness(t)
	dev := h.newDevice("")
	c := h.account(dev)
	o := h.newOrder(c, map[string]any{"identifiers": dnsIDs(dev.name(""))})
	certKey := newKey(t)
	done := h.finalize(c, o, certKey)
	leaf := h.download(c, done.Certificate)[0]

	holder := h.client(certKey)
	res, err := holder.Do(h.ctx, acmetest.Request{URL: holder.Dir.RevokeCert, JWK: true,
		Payload: map[string]any{"certificate": b64(leaf.Raw), "reason": 1}})
	if err != nil || res.Status != http.StatusOK {
		t.Fatalf("revoke with the certificate key: %v %v", res, err)
	}
	checkCommonHeaders(t, h, res)
	cert, err := h.store.GetCertificate(h.ctx, leaf.SerialNumber.Text(16))
	if err != nil || !cert.Revoked() || cert.Reason != 1 {
		t.Errorf("stored certificate = %+v %v", cert, err)
	}
	if got := h.counter("lantls_acme_revocations_total", "reason", "keyCompromise"); got != 1 {
		t.Errorf("keyCompromise counter = %v", got)
	}
}

func TestCertificateDownload(t *testing.T) {
	h := newHarness(t)
	dev := h.newDevice("")
	c := h.account(dev)
	o, _ := h.issue(c, dev.name(""))
	res, err := c.Post(h.ctx, o.Certificate, nil)
	if err != nil || res.Status != http.StatusOK {
		t.Fatalf("download: %v %v", res, err)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/pem-certificate-chain" {
		t.Errorf("Content-Type = %q", ct)
	}
	// The chain is in the body, so no rel="up" sends a client that
	// fetches every link by POST-as-GET (Caddy) to a GET-only file.
	for _, rel := range []string{"up", "alternate"} {
		if l := linkRel(res.Header, rel); l != "" {
			t.Errorf("certificate response links rel=%q to %q", rel, l)
		}
	}
	checkCommonHeaders(t, h, res)
	// A second account of the same device may fetch it.
	if chain := h.download(h.account(dev), o.Certificate); len(chain) != 2 {
		t.Errorf("chain has %d certificates", len(chain))
	}
}

func TestOrderExpiry(t *testing.T) {
	h := newHarness(t)
	dev := h.newDevice("")
	c := h.account(dev)
	o := h.newOrder(c, map[string]any{"identifiers": dnsIDs(dev.name(""))})
	h.clock.Advance(25 * time.Hour)
	c.Nonce(h.ctx) // drop the cached nonce, which has expired too

	res, err := c.Post(h.ctx, o.URL, nil)
	if err != nil || res.Status != http.StatusOK {
		t.Fatalf("get order: %v %v", res, err)
	}
	var got order
	if err := res.Decode(&got); err != nil || got.Status != "invalid" {
		t.Errorf("expired order = %+v %v", got, err)
	}
	res, err = c.Post(h.ctx, o.Finalize, map[string]string{"csr": b64(csr(t, newKey(t), dev.name("")))})
	wantProblem(t, res, err, problem.OrderNotReady, http.StatusForbidden)

	n, err := h.srv.Sweep(h.ctx)
	if err != nil || n == 0 {
		t.Fatalf("sweep = %d, %v", n, err)
	}
	id := o.URL[strings.LastIndex(o.URL, "/")+1:]
	stored, err := h.store.GetOrder(h.ctx, id)
	if err != nil || stored.Status != store.StatusInvalid {
		t.Errorf("stored order after sweep = %+v %v", stored, err)
	}
}

// TestRunSweeperStops: RunSweeper sweeps (an expired order) until its
// context ends, then returns.
func TestRunSweeperStops(t *testing.T) {
	h := newHarness(t)
	dev := h.newDevice("")
	h.newOrder(h.account(dev), map[string]any{"identifiers": dnsIDs(dev.name(""))})
	h.clock.Advance(25 * time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		h.srv.RunSweeper(ctx, time.Millisecond)
		close(done)
	}()
	h.logs.Wait(t, 5*time.Second, "acme sweep")
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunSweeper did not return after cancel")
	}
}

// meteredSigner is a signer that counts its signatures and says it is
// metered, as an upstream CA is.
type meteredSigner struct {
	ca.Signer
	signed atomic.Int32
}

func (m *meteredSigner) Sign(ctx context.Context, req ca.Request) (*ca.Issued, error) {
	m.signed.Add(1)
	return m.Signer.Sign(ctx, req)
}

func (m *meteredSigner) Metered() bool { return true }

// withMeteredSigner wraps the harness's CA as a metered signer.
func withMeteredSigner(m *meteredSigner) func(*acme.Config) {
	return func(cfg *acme.Config) { m.Signer = cfg.Signer; cfg.Signer = m }
}

// TestConcurrentFinalize finalizes one order from several requests at
// once: one wins, the others get orderNotReady, one certificate is
// recorded; a metered signer is asked only once.
func TestConcurrentFinalize(t *testing.T) {
	t.Run("local", func(t *testing.T) { testConcurrentFinalize(t, nil) })
	t.Run("metered", func(t *testing.T) { testConcurrentFinalize(t, &meteredSigner{}) })
}

func testConcurrentFinalize(t *testing.T, metered *meteredSigner) {
	var opts []func(*acme.Config)
	if metered != nil {
		opts = append(opts, withMeteredSigner(metered))
	}
	h := newHarness(t, opts...)
	dev := h.newDevice("")
	c := h.account(dev)
	o := h.newOrder(c, map[string]any{"identifiers": dnsIDs(dev.name(""), "*."+dev.name(""))})

	const n = 8
	clients := make([]*acmetest.Client, n)
	payloads := make([]map[string]string, n)
	for i := range clients {
		clients[i] = h.client(c.Key)
		clients[i].KID = c.KID
		payloads[i] = map[string]string{"csr": b64(csr(t, newKey(t), dev.name(""), "*."+dev.name("")))}
	}
	statuses := make([]int, n)
	kinds := make([]string, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nonce, err := cl.Nonce(h.ctx)
			if err != nil {
				t.Error(err)
				return
			}
			<-start
			res, err := cl.Do(h.ctx, acmetest.Request{URL: o.Finalize, Payload: payloads[i], Nonce: nonce})
			if err != nil {
				t.Error(err)
				return
			}
			statuses[i] = res.Status
			if p := res.Problem(); p != nil {
				kinds[i] = p.Type
			}
		}()
	}
	close(start)
	wg.Wait()

	won := 0
	for i := range statuses {
		switch {
		case statuses[i] == http.StatusOK:
			won++
		case kinds[i] != problem.URNPrefix+string(problem.OrderNotReady):
			t.Errorf("client %d: %d %s", i, statuses[i], kinds[i])
		}
	}
	if won != 1 {
		t.Errorf("%d finalizes succeeded, want 1", won)
	}
	certs, err := h.store.ListCertificates(h.ctx, dev.ID)
	if err != nil || len(certs) != 1 {
		t.Errorf("recorded certificates = %d, %v", len(certs), err)
	}
	if metered != nil && metered.signed.Load() != 1 {
		t.Errorf("metered signer signed %d times, want 1", metered.signed.Load())
	}
}

// TestSigningFailure uses a profile the CA refuses (a zero lifetime): the
// client gets serverInternal without detail, and the order is invalid with
// the problem stored.
func TestSigningFailure(t *testing.T) {
	t.Run("local", func(t *testing.T) { testSigningFailure(t, nil) })
	t.Run("metered", func(t *testing.T) { testSigningFailure(t, &meteredSigner{}) })
}

func testSigningFailure(t *testing.T, metered *meteredSigner) {
	profiles := maps.Clone(ca.Profiles)
	profiles["broken"] = ca.Profile{Name: "broken", Description: "refused by the CA"}
	opts := []func(*acme.Config){func(cfg *acme.Config) { cfg.Profiles = profiles }}
	if metered != nil {
		opts = append(opts, withMeteredSigner(metered))
	}
	h := newHarness(t, opts...)
	dev := h.newDevice("")
	c := h.account(dev)
	o := h.newOrder(c, map[string]any{"identifiers": dnsIDs(dev.name("")), "profile": "broken"})
	res, err := c.Post(h.ctx, o.Finalize, map[string]string{"csr": b64(csr(t, newKey(t), dev.name("")))})
	wantProblem(t, res, err, problem.ServerInternal, http.StatusInternalServerError)
	if p := res.Problem(); p.Detail != "internal error" {
		t.Errorf("detail = %q", p.Detail)
	}
	res, err = c.Post(h.ctx, o.URL, nil)
	if err != nil || res.Status != http.StatusOK {
		t.Fatalf("get order: %v %v", res, err)
	}
	var got order
	if err := res.Decode(&got); err != nil || got.Status != "invalid" || got.Error == nil ||
		got.Error.Type != problem.URNPrefix+string(problem.ServerInternal) || got.Certificate != "" {
		t.Errorf("order = %+v %v", got, err)
	}
	if certs, _ := h.store.ListCertificates(h.ctx, dev.ID); len(certs) != 0 {
		t.Errorf("%d certificates recorded", len(certs))
	}
}

// TestRevokedByAnotherProcess revokes a device through a second Store on
// the same file, as `lantls admin device revoke` does next to a running
// issuer, right after the server has read (and cached) the device and its
// account: the device's next order and the finalize of its ready order
// are refused at once, and no certificate is recorded.
func TestRevokedByAnotherProcess(t *testing.T) {
	h := newHarness(t)
	dev := h.newDevice("")
	c := h.account(dev)
	h.issue(c, dev.name(""))
	ready := h.newOrder(c, map[string]any{"identifiers": dnsIDs(dev.name(""))})

	other, err := sqlite.Open(h.ctx, h.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := devices.Revoke(h.ctx, other, dev.Label, time.Now()); err != nil {
		t.Fatal(err)
	}

	res, err := c.Post(h.ctx, c.Dir.NewOrder, map[string]any{"identifiers": dnsIDs(dev.name(""))})
	if err != nil {
		t.Fatal(err)
	}
	if p := res.Problem(); p == nil || p.Type != problem.URNPrefix+string(problem.Unauthorized) {
		t.Errorf("new order after revocation: %v", res)
	}
	res, err = c.Post(h.ctx, ready.Finalize, map[string]string{"csr": b64(csr(t, newKey(t), dev.name("")))})
	if err != nil {
		t.Fatal(err)
	}
	if p := res.Problem(); p == nil || p.Type != problem.URNPrefix+string(problem.Unauthorized) {
		t.Errorf("finalize after revocation: %v", res)
	}
	certs, err := h.store.ListCertificates(h.ctx, dev.ID)
	if err != nil || len(certs) != 1 {
		t.Errorf("certificates = %d, %v; want only the one from before", len(certs), err)
	}
}
