package acme_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lantls/lantls/acme"
	"github.com/lantls/lantls/acme/internal/acmetest"
	"github.com/lantls/lantls/ca/local"
	"github.com/lantls/lantls/internal/testwait"
	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/store"
	"github.com/lantls/lantls/store/sqlite"
)

const testZone = "lan.test"

// harness is a real issuer front end: a SQLite store in a temporary
// directory, a local CA, and the ACME handler behind an httptest TLS
// server whose URL is the BaseURL.
type harness struct {
	tb     testing.TB
	ctx    context.Context
	store  store.Store
	dbPath string // the store's file, for a second Store as another process would open (SQLite only)
	ca     *local.CA
	srv    *acme.Server
	ts     *httptest.Server
	clock  *testClock
	reg    *prometheus.Registry
	dirURL string
	owner  *store.Owner
	logs   *testwait.Buffer // everything the server logged, at debug level
}

// testClock is the clock of the server and the CA; tests move it forward.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// newHarness starts a harness on a SQLite store; opts may change the
// server's Config.
func newHarness(tb testing.TB, opts ...func(*acme.Config)) *harness {
	tb.Helper()
	dbPath := filepath.Join(tb.TempDir(), "lantls.db")
	st, err := sqlite.Open(context.Background(), dbPath)
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	h := newHarnessOn(tb, st, opts...)
	h.dbPath = dbPath
	return h
}

// newHarnessOn starts a harness on st, which the caller closes.
func newHarnessOn(tb testing.TB, st store.Store, opts ...func(*acme.Config)) *harness {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	h := &harness{tb: tb, ctx: ctx, clock: &testClock{}, reg: prometheus.NewRegistry(), logs: &testwait.Buffer{}}

	var handler http.Handler = http.NotFoundHandler()
	var mu sync.RWMutex
	h.ts = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.RLock()
		hd := handler
		mu.RUnlock()
		hd.ServeHTTP(w, r)
	}))
	h.ts.StartTLS()
	tb.Cleanup(h.ts.Close)
	h.dirURL = h.ts.URL + "/acme/directory"

	h.store = st
	var err error
	h.ca, err = local.Open(filepath.Join(dir, "ca"), local.Options{Zone: testZone, BaseURL: h.ts.URL, Now: h.clock.Now})
	if err != nil {
		tb.Fatalf("open CA: %v", err)
	}
	cfg := acme.Config{
		Store:      st,
		Signer:     h.ca,
		Zone:       testZone,
		BaseURL:    h.ts.URL,
		IssuerCert: h.ca.Intermediate(),
		Logger:     slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registerer: h.reg,
		Now:        h.clock.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	h.srv, err = acme.New(ctx, cfg)
	if err != nil {
		tb.Fatalf("new server: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/acme/", h.srv.Handler())
	mu.Lock()
	handler = mux
	mu.Unlock()

	if h.owner, err = st.EnsureOwner(ctx, "owner@example.test"); err != nil {
		tb.Fatalf("ensure owner: %v", err)
	}
	return h
}

// device is a paired device with one unused EAB key.
type device struct {
	*store.Device
	eabKID string
	eabKey []byte
}

// name returns prefix.L.Z, or L.Z for an empty prefix.
func (d *device) name(prefix string) string {
	n := names.DeviceName(d.Label, testZone)
	if prefix != "" {
		n = prefix + "." + n
	}
	return n
}

// newDevice creates an active device; keyThumbprint is the paired key, or
// empty for a device made for stock clients.
func (h *harness) newDevice(keyThumbprint string) *device {
	h.tb.Helper()
	d := &store.Device{
		ID:            randomString(12),
		Label:         names.RandomLabel(),
		OwnerID:       h.owner.ID,
		Name:          "test device",
		KeyThumbprint: keyThumbprint,
		Status:        store.StatusActive,
	}
	if err := h.store.CreateDevice(h.ctx, d); err != nil {
		h.tb.Fatalf("create device: %v", err)
	}
	dev := &device{Device: d}
	dev.eabKID, dev.eabKey = h.newEAB(d.ID)
	return dev
}

// newEAB creates an EAB key for a device: a random kid and 32 random bytes.
func (h *harness) newEAB(deviceID string) (string, []byte) {
	h.tb.Helper()
	kid, key, err := h.tryNewEAB(deviceID)
	if err != nil {
		h.tb.Fatal(err)
	}
	return kid, key
}

func (h *harness) tryNewEAB(deviceID string) (string, []byte, error) {
	k := &store.EABKey{KID: randomString(16), DeviceID: deviceID, HMACKey: make([]byte, 32)}
	rand.Read(k.HMACKey)
	if err := h.store.CreateEABKey(h.ctx, k); err != nil {
		return "", nil, fmt.Errorf("create EAB key: %w", err)
	}
	return k.KID, k.HMACKey, nil
}

// client returns a raw client with key (a new P-256 key if nil).
func (h *harness) client(key crypto.Signer) *acmetest.Client {
	h.tb.Helper()
	if key == nil {
		key = newKey(h.tb)
	}
	c, err := acmetest.NewClient(h.ctx, h.ts.Client(), h.dirURL, key)
	if err != nil {
		h.tb.Fatalf("new client: %v", err)
	}
	return c
}

// account returns a raw client registered for dev with its EAB key (a
// fresh one if dev's first is used).
func (h *harness) account(dev *device) *acmetest.Client {
	h.tb.Helper()
	c := h.client(nil)
	kid, key := dev.eabKID, dev.eabKey
	if k, err := h.store.GetEABKey(h.ctx, kid); err != nil || k.AccountID != "" {
		kid, key = h.newEAB(dev.ID)
	}
	res, err := c.Register(h.ctx, kid, key)
	if err != nil || res.Status != http.StatusCreated {
		h.tb.Fatalf("register: %v %v", res, err)
	}
	return c
}

// order is an order as the raw client reads it.
type order struct {
	URL            string `json:"-"`
	Status         string `json:"status"`
	Expires        time.Time
	Identifiers    []store.Identifier `json:"identifiers"`
	Authorizations []string           `json:"authorizations"`
	Finalize       string             `json:"finalize"`
	Certificate    string             `json:"certificate"`
	Profile        string             `json:"profile"`
	Replaces       string             `json:"replaces"`
	Error          *acmetest.Problem  `json:"error"`
}

func dnsIDs(names ...string) []store.Identifier {
	ids := make([]store.Identifier, len(names))
	for i, n := range names {
		ids[i] = store.Identifier{Type: "dns", Value: n}
	}
	return ids
}

// newOrder creates an order and fails the test unless it gets 201.
func (h *harness) newOrder(c *acmetest.Client, payload map[string]any) *order {
	h.tb.Helper()
	o, err := h.tryNewOrder(c, payload)
	if err != nil {
		h.tb.Fatal(err)
	}
	return o
}

// finalize finalizes o with a CSR for its names and fails the test unless
// it gets 200 and a valid order.
func (h *harness) finalize(c *acmetest.Client, o *order, certKey crypto.Signer) *order {
	h.tb.Helper()
	done, err := h.tryFinalize(c, o, certKey)
	if err != nil {
		h.tb.Fatal(err)
	}
	return done
}

// download fetches a certificate chain.
func (h *harness) download(c *acmetest.Client, certURL string) []*x509.Certificate {
	h.tb.Helper()
	chain, err := h.tryDownload(c, certURL)
	if err != nil {
		h.tb.Fatal(err)
	}
	return chain
}

// issue runs order, finalize and download for names.
func (h *harness) issue(c *acmetest.Client, names ...string) (*order, []*x509.Certificate) {
	h.tb.Helper()
	o, chain, err := h.tryIssue(c, newKey(h.tb), names...)
	if err != nil {
		h.tb.Fatal(err)
	}
	return o, chain
}

// The try variants return errors instead of failing the test, for use off
// the test goroutine (benchmarks, concurrency tests).

func (h *harness) tryNewOrder(c *acmetest.Client, payload map[string]any) (*order, error) {
	res, err := c.Post(h.ctx, c.Dir.NewOrder, payload)
	if err != nil {
		return nil, fmt.Errorf("new order: %w", err)
	}
	if res.Status != http.StatusCreated {
		return nil, fmt.Errorf("new order: %v", res)
	}
	o := &order{URL: res.Location()}
	if err := res.Decode(o); err != nil {
		return nil, fmt.Errorf("decode order: %w", err)
	}
	return o, nil
}

func (h *harness) tryFinalize(c *acmetest.Client, o *order, certKey crypto.Signer) (*order, error) {
	var dns []string
	for _, id := range o.Identifiers {
		dns = append(dns, id.Value)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: dns}, certKey)
	if err != nil {
		return nil, fmt.Errorf("create CSR: %w", err)
	}
	res, err := c.Post(h.ctx, o.Finalize, map[string]string{"csr": b64(der)})
	if err != nil {
		return nil, fmt.Errorf("finalize: %w", err)
	}
	if res.Status != http.StatusOK {
		return nil, fmt.Errorf("finalize: %v", res)
	}
	done := &order{URL: res.Location()}
	if err := res.Decode(done); err != nil {
		return nil, fmt.Errorf("decode order: %w", err)
	}
	if done.Status != "valid" || done.Certificate == "" || done.URL != o.URL {
		return nil, fmt.Errorf("finalized order: %+v", done)
	}
	return done, nil
}

func (h *harness) tryDownload(c *acmetest.Client, certURL string) ([]*x509.Certificate, error) {
	res, err := c.Post(h.ctx, certURL, nil)
	if err != nil {
		return nil, fmt.Errorf("download: %w", err)
	}
	if res.Status != http.StatusOK {
		return nil, fmt.Errorf("download: %v", res)
	}
	var chain []*x509.Certificate
	rest := res.Body
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse chain: %w", err)
		}
		chain = append(chain, cert)
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("empty chain: %s", res.Body)
	}
	return chain, nil
}

func (h *harness) tryIssue(c *acmetest.Client, certKey crypto.Signer, names ...string) (*order, []*x509.Certificate, error) {
	o, err := h.tryNewOrder(c, map[string]any{"identifiers": dnsIDs(names...)})
	if err != nil {
		return nil, nil, err
	}
	done, err := h.tryFinalize(c, o, certKey)
	if err != nil {
		return nil, nil, err
	}
	chain, err := h.tryDownload(c, done.Certificate)
	return done, chain, err
}

// verify checks a chain against the CA root for dnsName.
func (h *harness) verify(chain []*x509.Certificate, dnsName string) error {
	roots := x509.NewCertPool()
	roots.AddCert(h.ca.Root())
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		DNSName:       dnsName,
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   h.clock.Now(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return err
}

// counter returns the value of a counter of the harness's registry.
func (h *harness) counter(name, label, value string) float64 {
	h.tb.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.tb.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// certID computes an RFC 9773 certID independently of the server.
func certID(tb testing.TB, cert *x509.Certificate) string {
	tb.Helper()
	der, err := asn1.Marshal(cert.SerialNumber)
	if err != nil {
		tb.Fatal(err)
	}
	var raw asn1.RawValue
	if _, err := asn1.Unmarshal(der, &raw); err != nil {
		tb.Fatal(err)
	}
	return b64(cert.AuthorityKeyId) + "." + b64(raw.Bytes)
}

func newKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// csr returns a DER CSR for names signed by key.
func csr(tb testing.TB, key crypto.Signer, names ...string) []byte {
	tb.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:  pkix.Name{},
		DNSNames: names,
	}, key)
	if err != nil {
		tb.Fatalf("create CSR: %v", err)
	}
	return der
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

func decodeJSON(res *http.Response, v any) error { return json.NewDecoder(res.Body).Decode(v) }
