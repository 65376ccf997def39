package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/acme"
	_ "modernc.org/sqlite" // registers the "sqlite" driver, to read the issuer's database

	"github.com/lantls/lantls/internal/testwait"
)

// The crash test's load and kills. The defaults keep it well under a minute
// in scripts/test; LANTLS_CRASH_KILLS asks for more kills.
const (
	defaultCrashKills = 5
	maxCrashKills     = 500
	crashWorkers      = 8
	minCrashDevices   = 200
	devicesPerKill    = 40 // fresh devices per kill, above minCrashDevices
	killDelayMin      = 50 * time.Millisecond
	killDelayMax      = 500 * time.Millisecond
	// maxRestart bounds exec -> /healthz 200 of a restart after a kill. It
	// catches a restart that hangs (recovery that waits on a lock or scans
	// every row), not a slow one: the test binary is built with -race and
	// shares the machine with every other package, so a restart that takes
	// 27 ms on an idle machine has taken 20 s under load. The times are
	// logged at the end.
	maxRestart = time.Minute

	attemptTimeout = 5 * time.Second       // one try at a certificate
	retryPause     = 25 * time.Millisecond // between tries, while the issuer is down
	maxAttempts    = 400                   // tries at one certificate
	maxUnexpected  = 3                     // answers no crash explains, before a device gives up
	maxPerWorker   = 10000                 // certificates one worker asks for
	warmupTimeout  = 20 * time.Second      // for the first certificates, before any kill
	settleTimeout  = 15 * time.Second      // for certificates after the last restart
	drainTimeout   = 30 * time.Second      // for workers to finish the device in hand
)

// crashIssuerFlags lift the limit that the load would reach by design:
// every device registers from 127.0.0.1.
var crashIssuerFlags = []string{"--limit-accounts-per-source", "off"}

// TestCrashSafety runs ACME clients against an issuer that is killed with
// SIGKILL at random moments and restarted on the same data and port, then
// stops it cleanly and reads its database to check that nothing a client
// was given is lost: every certificate is recorded for its device, no
// order is valid without its certificate, no EAB key bound two accounts,
// and the database is intact. Each restart must serve /healthz; the
// times are logged.
func TestCrashSafety(t *testing.T) {
	kills := crashKills(t)
	seed := crashSeed(t)
	rng := mrand.New(mrand.NewPCG(seed, seed))
	dir := t.TempDir()
	iss := startIssuerOn(t, dir, "127.0.0.1:0", crashIssuerFlags...)
	listen := strings.TrimPrefix(iss.BaseURL, "https://")
	devs := addDevices(t, iss, max(minCrashDevices, devicesPerKill*kills))

	load := startCrashLoad(t, iss, devs)
	load.waitIssued(t, crashWorkers, warmupTimeout)
	var restarts []time.Duration
	var maxReady time.Duration
	for range kills {
		// Sleeping is the point: the kill lands at a random moment of the load.
		time.Sleep(killDelayMin + time.Duration(rng.Int64N(int64(killDelayMax-killDelayMin))))
		iss.Kill(t)
		var took time.Duration
		iss, took = restartIssuer(t, dir, listen)
		restarts = append(restarts, took)
		maxReady = max(maxReady, iss.ReadyAfter)
		if took > maxRestart {
			t.Errorf("restart %d took %s from exec to /healthz 200, want under %s", len(restarts), took, maxRestart)
		}
	}
	load.waitIssued(t, load.issued.Load()+2*crashWorkers, settleTimeout)
	load.finish(t)
	iss.Stop(t)

	load.check(t)
	stored := checkCrashStore(t, iss, devs, load)
	for _, c := range load.certs {
		verifyDeviceChain(t, iss, c.dev, c.chain)
	}
	t.Logf("crash safety: %d kills; %d certificates received (%d downloaded from orders found valid after an error) by %d devices; "+
		"%d accounts, %d repeated newAccount answered with the existing account; %d orders cut off by a kill; "+
		"restart from exec to the ready line max %s, to /healthz 200 max %s, each %s; client errors by step: %s; store: %s",
		kills, len(load.certs), load.refetched(), len(load.devices),
		load.accounts(), load.reregistered(), load.orphaned(),
		maxReady.Round(time.Millisecond), slices.Max(restarts).Round(time.Millisecond), roundAll(restarts),
		load.errorSummary(), stored)
}

// crashKills is how many times the test kills the issuer: LANTLS_CRASH_KILLS
// or the default.
func crashKills(t *testing.T) int {
	t.Helper()
	v := os.Getenv("LANTLS_CRASH_KILLS")
	if v == "" {
		return defaultCrashKills
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxCrashKills {
		t.Fatalf("LANTLS_CRASH_KILLS=%q: want a number from 1 to %d", v, maxCrashKills)
	}
	return n
}

// crashSeed seeds the kill delays: LANTLS_CRASH_SEED repeats a run's delays
// (the load itself is not repeatable).
func crashSeed(t *testing.T) uint64 {
	t.Helper()
	if v := os.Getenv("LANTLS_CRASH_SEED"); v != "" {
		seed, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("LANTLS_CRASH_SEED=%q: want an unsigned number", v)
		}
		return seed
	}
	seed := mrand.Uint64()
	t.Logf("kill delays from seed %d (LANTLS_CRASH_SEED=%d repeats them)", seed, seed)
	return seed
}

// restartIssuer starts an issuer on dir and listen after a kill and returns
// it with the time from exec until /healthz answered 200.
func restartIssuer(t *testing.T, dir, listen string) (*issuer, time.Duration) {
	t.Helper()
	iss := startIssuerOn(t, dir, listen, crashIssuerFlags...)
	if iss.BaseURL != "https://"+listen {
		t.Fatalf("restarted issuer is at %s, want https://%s", iss.BaseURL, listen)
	}
	var status string
	if !testwait.Until(10*time.Second, func() bool {
		resp, err := iss.client.Get(iss.BaseURL + "/healthz")
		if err != nil {
			status = err.Error()
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		status = resp.Status
		return resp.StatusCode == http.StatusOK
	}) {
		t.Fatalf("restarted issuer: /healthz not 200 after 10s: %s\n%s", status, iss.logs())
	}
	return iss, time.Since(iss.StartedAt)
}

func roundAll(ds []time.Duration) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = d.Round(time.Millisecond).String()
	}
	return "[" + strings.Join(s, " ") + "]"
}

// crashLoad is the clients of TestCrashSafety: crashWorkers goroutines that
// each take fresh devices (register with EAB, order, finalize, download) and,
// once there are none left, renew their own. A device whose try fails (the
// issuer is down) tries again with the same account key and the same order
// until it has a certificate. Workers never touch t: they record what they
// see, and the test reports it.
type crashLoad struct {
	ctx       context.Context
	cancel    context.CancelFunc
	client    *http.Client
	directory string
	fresh     chan *device
	stop      chan struct{}
	wg        sync.WaitGroup
	issued    atomic.Int64

	mu         sync.Mutex
	certs      []*crashCert
	devices    []*crashDevice    // every device a worker took
	errs       map[string]int    // expected errors, by step and kind
	examples   map[string]string // the first error of each step and kind
	unexpected []string
	stuck      []string
}

// crashCert is a certificate a client received.
type crashCert struct {
	serial    string // lowercase hex, as the issuer records it
	dev       *device
	eabKID    string
	account   string // account URL
	order     string // order URL
	chain     []*x509.Certificate
	refetched bool // downloaded from an order found valid after an error
}

func startCrashLoad(t *testing.T, iss *issuer, devs []*device) *crashLoad {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	l := &crashLoad{
		ctx:    ctx,
		cancel: cancel,
		// One client for every restart: the root, the URLs and the port stay.
		client: &http.Client{Transport: &http.Transport{
			Proxy:               nil,
			TLSClientConfig:     &tls.Config{RootCAs: iss.roots},
			MaxIdleConnsPerHost: crashWorkers,
		}},
		directory: iss.Directory,
		fresh:     make(chan *device, len(devs)),
		stop:      make(chan struct{}),
		errs:      map[string]int{},
		examples:  map[string]string{},
	}
	for _, d := range devs {
		l.fresh <- d
	}
	t.Cleanup(func() {
		l.cancel()
		l.wg.Wait()
		l.client.CloseIdleConnections()
	})
	for range crashWorkers {
		l.wg.Add(1)
		go l.worker()
	}
	return l
}

// waitIssued waits until the clients have received n certificates.
func (l *crashLoad) waitIssued(t *testing.T, n int64, timeout time.Duration) {
	t.Helper()
	if !testwait.Until(timeout, func() bool { return l.issued.Load() >= n }) {
		l.check(t)
		t.Fatalf("clients received %d certificates in %s, want %d; errors so far: %s", l.issued.Load(), timeout, n, l.errorSummary())
	}
}

// finish tells the workers to stop once the device in hand has its
// certificate, and waits for them.
func (l *crashLoad) finish(t *testing.T) {
	t.Helper()
	close(l.stop)
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(drainTimeout):
		l.cancel()
		<-done
		t.Errorf("clients did not finish within %s of the last restart's load", drainTimeout)
	}
	// A pooled connection that never carried a request holds a graceful
	// shutdown for 5 s (net/http treats it as new, not idle).
	l.client.CloseIdleConnections()
}

// check reports what the clients saw that a crash does not explain.
func (l *crashLoad) check(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.unexpected {
		t.Errorf("client: %s", s)
	}
	for _, s := range l.stuck {
		t.Errorf("client: %s", s)
	}
	l.unexpected, l.stuck = nil, nil
}

func (l *crashLoad) worker() {
	defer l.wg.Done()
	var mine []*crashDevice
	for range maxPerWorker {
		select {
		case <-l.stop:
			return
		case <-l.ctx.Done():
			return
		default:
		}
		var d *crashDevice
		select {
		case dev := <-l.fresh:
			d = l.take(dev)
		default:
			if len(mine) == 0 {
				return
			}
			d = mine[mrand.IntN(len(mine))]
		}
		if !l.issue(d) {
			if l.ctx.Err() != nil {
				return
			}
			continue
		}
		if d.certs == 1 {
			mine = append(mine, d)
		}
	}
}

func (l *crashLoad) take(dev *device) *crashDevice {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	d := &crashDevice{
		dev: dev,
		cl: &acme.Client{
			Key:          key,
			DirectoryURL: l.directory,
			HTTPClient:   l.client,
			UserAgent:    "lantls-e2e-crash",
			RetryBackoff: crashBackoff,
		},
	}
	l.mu.Lock()
	l.devices = append(l.devices, d)
	l.mu.Unlock()
	return d
}

// crashBackoff retries 5xx and badNonce answers twice, briefly; anything
// longer is the next try's business.
func crashBackoff(n int, _ *http.Request, _ *http.Response) time.Duration {
	if n > 2 {
		return 0
	}
	return time.Duration(n) * 20 * time.Millisecond
}

// issue tries until d receives a certificate; false if it never does.
func (l *crashLoad) issue(d *crashDevice) bool {
	for range maxAttempts {
		ctx, cancel := context.WithTimeout(l.ctx, attemptTimeout)
		c, err := d.attempt(ctx)
		cancel()
		if l.ctx.Err() != nil {
			return false // the test is ending; not the issuer's doing
		}
		if err == nil {
			l.mu.Lock()
			l.certs = append(l.certs, c)
			l.mu.Unlock()
			l.issued.Add(1)
			return true
		}
		d.lastErr = err
		d.again = true
		if !l.recordError(d, err) {
			if d.unexpected++; d.unexpected >= maxUnexpected {
				l.giveUp(d, fmt.Sprintf("%d answers no crash explains", d.unexpected))
				return false
			}
		}
		select {
		case <-l.ctx.Done():
			return false
		case <-time.After(retryPause + mrand.N(retryPause)):
		}
	}
	l.giveUp(d, fmt.Sprintf("%d tries", maxAttempts))
	return false
}

func (l *crashLoad) giveUp(d *crashDevice, after string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stuck = append(l.stuck, fmt.Sprintf("device %s (EAB %s) gave up after %s; last error: %v",
		d.dev.Label, d.dev.EABKID, after, d.lastErr))
}

// recordError counts an error a crash explains and returns true, or keeps
// one it does not explain for the test to report and returns false.
func (l *crashLoad) recordError(d *crashDevice, err error) bool {
	kind, expected := crashErrorKind(err)
	step := "?"
	var se *stepError
	if errors.As(err, &se) {
		step = se.step
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if expected {
		k := step + " " + kind
		l.errs[k]++
		if _, ok := l.examples[k]; !ok {
			l.examples[k] = err.Error()
		}
		return true
	}
	if len(l.unexpected) < 50 {
		l.unexpected = append(l.unexpected, fmt.Sprintf("device %s (EAB %s): unexpected %s: %v", d.dev.Label, d.dev.EABKID, kind, err))
	}
	return false
}

func (l *crashLoad) errorSummary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(l.errs)) {
		part := fmt.Sprintf("%s %d", k, l.errs[k])
		if strings.HasSuffix(k, " transport") {
			part += fmt.Sprintf(" (first: %q)", l.examples[k])
		}
		parts = append(parts, part)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func (l *crashLoad) refetched() int {
	n := 0
	for _, c := range l.certs {
		if c.refetched {
			n++
		}
	}
	return n
}

func (l *crashLoad) accounts() int {
	n := 0
	for _, d := range l.devices {
		if d.account != "" {
			n++
		}
	}
	return n
}

func (l *crashLoad) reregistered() int {
	n := 0
	for _, d := range l.devices {
		n += d.existing
	}
	return n
}

func (l *crashLoad) orphaned() int {
	n := 0
	for _, d := range l.devices {
		n += d.orphaned
	}
	return n
}

// crashDevice is one device's client state, kept across tries and
// restarts. Only one worker uses it at a time.
type crashDevice struct {
	dev     *device
	cl      *acme.Client // holds the account key
	account string       // account URL, once newAccount answered
	// again makes the next try send newAccount again, as a client that
	// lost its state in the failed try would; the issuer must answer with
	// the account it has.
	again      bool
	created    int         // newAccount answers 201 Created
	existing   int         // newAccount answers 200 OK: the key's account exists
	order      *acme.Order // the order under way; nil when the next try makes one
	certKey    *ecdsa.PrivateKey
	csr        []byte
	certs      int
	orphaned   int // orders a kill cut off while signing, found after an error
	unexpected int // errors no crash explains
	lastErr    error
}

// stepError says in which ACME step a try failed.
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return e.step + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

func stepErr(step string, err error) error { return &stepError{step: step, err: err} }

// errAnomaly marks what the issuer answered that no crash explains.
var errAnomaly = errors.New("anomaly")

func anomalyf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errAnomaly, fmt.Sprintf(format, args...))
}

// errOrphaned is an order the issuer was killed while signing: at its next
// start the issuer made it invalid (serverInternal, "restarted while
// signing"), and the client orders again.
var errOrphaned = errors.New("order cut off by a kill")

// restartedWhileSigning is the detail of the problem the issuer stores in
// orders a crash cut off.
const restartedWhileSigning = "the issuer restarted while signing"

// attempt takes the device one step further each time it is called, from
// where the last try stopped: newAccount (again, with the same key and EAB
// key, until it answers), newOrder or the order under way, finalize or
// download.
func (d *crashDevice) attempt(ctx context.Context) (*crashCert, error) {
	if d.account == "" || d.again {
		if err := d.register(ctx); err != nil {
			return nil, stepErr("newAccount", err)
		}
	}
	if d.certKey == nil {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: d.dev.Names}, key)
		if err != nil {
			return nil, err
		}
		d.certKey, d.csr = key, csr
	}
	if d.order == nil {
		o, err := d.cl.AuthorizeOrder(ctx, acme.DomainIDs(d.dev.Names...))
		if err != nil {
			return nil, stepErr("newOrder", err)
		}
		d.order = o
	} else {
		o, err := d.cl.GetOrder(ctx, d.order.URI)
		if err != nil {
			return nil, stepErr("order", err)
		}
		d.order = o
	}
	switch o := d.order; o.Status {
	case acme.StatusReady:
		ders, _, err := d.cl.CreateCertFromOrder(ctx, o, d.csr, true)
		if err != nil {
			return nil, stepErr("finalize", err)
		}
		return d.received(ders, false)
	case acme.StatusValid:
		ders, err := d.cl.FetchCert(ctx, o.CertURL, true)
		if err != nil {
			return nil, stepErr("certificate", err)
		}
		return d.received(ders, true)
	case acme.StatusInvalid:
		d.order = nil
		if o.Error != nil && o.Error.ProblemType == "urn:ietf:params:acme:error:serverInternal" &&
			strings.Contains(o.Error.Detail, restartedWhileSigning) {
			d.orphaned++
			return nil, stepErr("order", errOrphaned)
		}
		return nil, stepErr("order", anomalyf("order %s is invalid (error %v)", o.URI, o.Error))
	default:
		d.order = nil
		return nil, stepErr("order", anomalyf("order %s is %s (error %v)", o.URI, o.Status, o.Error))
	}
}

// register creates the device's account with its EAB key, or finds that a
// lost answer had created it already.
func (d *crashDevice) register(ctx context.Context) error {
	eab := &acme.ExternalAccountBinding{KID: d.dev.EABKID, Key: d.dev.mustHMACKey()}
	acct, err := d.cl.Register(ctx, &acme.Account{ExternalAccountBinding: eab}, acme.AcceptTOS)
	var url string
	switch {
	case err == nil:
		d.created++
		url = acct.URI
	case errors.Is(err, acme.ErrAccountAlreadyExists):
		d.existing++
		url = string(d.cl.KID)
	default:
		return err
	}
	switch {
	case d.created > 1:
		return anomalyf("newAccount created a second account for one key (%s after %s)", url, d.account)
	case url == "":
		return anomalyf("newAccount answered without an account URL")
	case d.account != "" && url != d.account:
		return anomalyf("newAccount answered account %s, the key's account is %s", url, d.account)
	}
	d.account, d.again = url, false
	return nil
}

// received checks a downloaded chain and makes it the device's newest
// certificate.
func (d *crashDevice) received(ders [][]byte, refetched bool) (*crashCert, error) {
	var chain []*x509.Certificate
	for _, der := range ders {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, anomalyf("order %s: certificate does not parse: %v", d.order.URI, err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, anomalyf("order %s: empty chain", d.order.URI)
	}
	if k, ok := chain[0].PublicKey.(*ecdsa.PublicKey); !ok || !k.Equal(d.certKey.Public()) {
		return nil, anomalyf("order %s: certificate %x is not for the CSR's key", d.order.URI, chain[0].SerialNumber)
	}
	c := &crashCert{
		serial:    fmt.Sprintf("%x", chain[0].SerialNumber),
		dev:       d.dev,
		eabKID:    d.dev.EABKID,
		account:   d.account,
		order:     d.order.URI,
		chain:     chain,
		refetched: refetched,
	}
	d.order, d.certKey, d.csr = nil, nil, nil
	d.certs++
	return c, nil
}

// mustHMACKey is hmacKey for goroutines that may not fail a test;
// addDevices has checked the value.
func (d *device) mustHMACKey() []byte {
	k, err := base64.RawURLEncoding.DecodeString(d.EABHMACKey)
	if err != nil {
		panic(err)
	}
	return k
}

// crashErrorKind names an error for the summary and says whether a killed
// issuer explains it: a connection refused, reset or cut short, a try that
// timed out, an order orphaned in processing. Any answer from the issuer
// (a problem document, an invalid order, a certificate that does not
// check) is unexpected.
func crashErrorKind(err error) (kind string, expected bool) {
	var pe *acme.Error
	var oe *acme.OrderError
	var ve *tls.CertificateVerificationError
	switch {
	case errors.Is(err, errAnomaly):
		return "answer", false
	case errors.As(err, &pe):
		if p := problemType(err); p != "" {
			return "problem " + p, false
		}
		return fmt.Sprintf("HTTP %d", pe.StatusCode), false
	case errors.As(err, &oe):
		return "order " + oe.Status, false
	case errors.As(err, &ve):
		return "TLS verification", false
	case errors.Is(err, errOrphaned):
		return "cut off while signing", true
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout", true
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused", true
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset", true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		strings.Contains(err.Error(), "EOF"), strings.Contains(err.Error(), "connection reset"),
		strings.Contains(err.Error(), "server closed idle connection"):
		// x/crypto/acme flattens some read errors with %v.
		return "cut short", true
	}
	return "transport", true
}

// checkCrashStore reads the stopped issuer's database and checks what the
// clients received against it, and the store's own invariants. It returns
// what the store holds, for the summary.
func checkCrashStore(t *testing.T, iss *issuer, devs []*device, load *crashLoad) string {
	t.Helper()
	db := openDatabaseReadOnly(t, filepath.Join(iss.Dir, "lantls.db"))

	if got := queryStrings(t, db, `PRAGMA integrity_check`); !slices.Equal(got, []string{"ok"}) {
		t.Errorf("integrity_check: %q", got)
	}
	if got := queryStrings(t, db, `SELECT "table" || ' rowid ' || rowid || ' -> ' || parent FROM pragma_foreign_key_check`); len(got) > 0 {
		t.Errorf("foreign_key_check: %q", got)
	}

	// (a) Every certificate a client received is recorded for its device,
	// account and order, with the chain the client got.
	for _, c := range load.certs {
		var deviceID, accountID, orderID string
		var chainPEM []byte
		err := db.QueryRow(`SELECT device_id, account_id, order_id, chain_pem FROM certificates WHERE serial = ?`, c.serial).
			Scan(&deviceID, &accountID, &orderID, &chainPEM)
		if errors.Is(err, sql.ErrNoRows) {
			t.Errorf("LOST: certificate %s that device %s (EAB %s) received from order %s is not in the store",
				c.serial, c.dev.Label, c.eabKID, c.order)
			continue
		}
		if err != nil {
			t.Fatalf("reading certificate %s: %v", c.serial, err)
		}
		if deviceID != c.dev.ID || accountID != path.Base(c.account) || orderID != path.Base(c.order) {
			t.Errorf("certificate %s is recorded for device %s, account %s, order %s; the client was device %s, account %s, order %s",
				c.serial, deviceID, accountID, orderID, c.dev.ID, path.Base(c.account), path.Base(c.order))
		}
		if block, _ := pem.Decode(chainPEM); block == nil || !bytes.Equal(block.Bytes, c.chain[0].Raw) {
			t.Errorf("certificate %s: the recorded chain does not start with the certificate the client received", c.serial)
		}
	}
	checkListedCertificates(t, iss, db, devs, load)

	// (b) An order is valid exactly when its certificate is recorded.
	if got := queryStrings(t, db, `
		SELECT o.id || ' (certificate ' || o.certificate_serial || ')' FROM orders o
		WHERE o.status = 'valid' AND NOT EXISTS (
			SELECT 1 FROM certificates c WHERE c.serial = o.certificate_serial AND c.order_id = o.id)`); len(got) > 0 {
		t.Errorf("orders valid without their certificate: %q", got)
	}
	if got := queryStrings(t, db, `
		SELECT c.serial || ' (order ' || c.order_id || ' ' || COALESCE(o.status, 'missing') || ')'
		FROM certificates c LEFT JOIN orders o ON o.id = c.order_id
		WHERE o.id IS NULL OR o.status != 'valid' OR o.certificate_serial != c.serial
			OR o.device_id != c.device_id OR o.account_id != c.account_id`); len(got) > 0 {
		t.Errorf("certificates whose order is not valid with them: %q", got)
	}

	// (c) One account per EAB key, and the key says which.
	if got := queryStrings(t, db, `SELECT eab_kid FROM accounts GROUP BY eab_kid HAVING COUNT(*) > 1`); len(got) > 0 {
		t.Errorf("EAB keys that bound more than one account: %q", got)
	}
	if got := queryStrings(t, db, `
		SELECT a.id || ' (EAB ' || a.eab_kid || ')' FROM accounts a LEFT JOIN eab_keys k ON k.kid = a.eab_kid
		WHERE k.kid IS NULL OR k.account_id != a.id OR k.used_at IS NULL OR k.device_id != a.device_id`); len(got) > 0 {
		t.Errorf("accounts whose EAB key is missing or not marked used by them: %q", got)
	}
	if got := queryStrings(t, db, `
		SELECT k.kid FROM eab_keys k
		WHERE (k.used_at IS NOT NULL OR k.account_id != '')
			AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = k.account_id)`); len(got) > 0 {
		t.Errorf("EAB keys marked used by an account that does not exist (the device is locked out): %q", got)
	}
	// Every account a client was told about exists, for its device and key.
	for _, d := range load.devices {
		if d.account == "" {
			continue
		}
		var deviceID, kid string
		err := db.QueryRow(`SELECT device_id, eab_kid FROM accounts WHERE id = ?`, path.Base(d.account)).Scan(&deviceID, &kid)
		if errors.Is(err, sql.ErrNoRows) {
			t.Errorf("LOST: account %s of device %s (EAB %s) is not in the store", d.account, d.dev.Label, d.dev.EABKID)
			continue
		}
		if err != nil {
			t.Fatalf("reading account %s: %v", d.account, err)
		}
		if deviceID != d.dev.ID || kid != d.dev.EABKID {
			t.Errorf("account %s is recorded for device %s with EAB %s, want %s with %s", d.account, deviceID, kid, d.dev.ID, d.dev.EABKID)
		}
	}

	// A kill can cut an order's signing short; the next start makes such
	// orders invalid, so none stays processing, and every order a client
	// found cut off is one of them.
	orders := queryStrings(t, db, `SELECT status || ' ' || COUNT(*) FROM orders GROUP BY status ORDER BY status`)
	var processing, cutOff int
	if err := db.QueryRow(`SELECT (SELECT COUNT(*) FROM orders WHERE status = 'processing'),
		(SELECT COUNT(*) FROM orders WHERE status = 'invalid' AND error LIKE '%' || ? || '%')`, restartedWhileSigning).Scan(&processing, &cutOff); err != nil {
		t.Fatalf("counting processing orders: %v", err)
	}
	if processing != 0 {
		t.Errorf("%d orders are still processing after a clean stop, want 0", processing)
	}
	if load.orphaned() > cutOff {
		t.Errorf("clients found %d orders cut off by a kill, but the store has only %d", load.orphaned(), cutOff)
	}
	var certs, accounts int
	if err := db.QueryRow(`SELECT (SELECT COUNT(*) FROM certificates), (SELECT COUNT(*) FROM accounts)`).Scan(&certs, &accounts); err != nil {
		t.Fatalf("counting certificates and accounts: %v", err)
	}
	return fmt.Sprintf("%d certificates, %d accounts, orders %s", certs, accounts, strings.Join(orders, ", "))
}

// checkListedCertificates checks that `lantls admin device list`, which
// counts each device's certificates with the store's ListCertificates,
// counts every recorded one: at least those the clients received.
func checkListedCertificates(t *testing.T, iss *issuer, db *sql.DB, devs []*device, load *crashLoad) {
	t.Helper()
	recorded := map[string]int{}
	rows, err := db.Query(`SELECT device_id, COUNT(*) FROM certificates GROUP BY device_id`)
	if err != nil {
		t.Fatalf("counting certificates: %v", err)
	}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		recorded[id] = n
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	received := map[string]int{}
	for _, c := range load.certs {
		received[c.dev.Label]++
	}

	r := iss.admin(t, "device", "list")
	if r.code != 0 {
		t.Fatalf("device list failed:\n%s", r)
	}
	listed := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n")[1:] {
		// LABEL NAME... OWNER STATUS CERTS CREATED(date time)
		f := strings.Fields(line)
		if len(f) < 6 {
			t.Fatalf("contract: device list line %q has no CERTS column\n%s", line, r)
		}
		n, err := strconv.Atoi(f[len(f)-3])
		if err != nil {
			t.Fatalf("contract: device list line %q: CERTS %q is not a number\n%s", line, f[len(f)-3], r)
		}
		listed[f[0]] = n
	}
	for _, d := range devs {
		if listed[d.Label] != recorded[d.ID] || listed[d.Label] < received[d.Label] {
			t.Errorf("device %s: device list counts %d certificates, the store holds %d, its client received %d",
				d.Label, listed[d.Label], recorded[d.ID], received[d.Label])
		}
	}
}

// openDatabaseReadOnly opens the SQLite file at path read-only.
func openDatabaseReadOnly(t *testing.T, path string) *sql.DB {
	t.Helper()
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")
	db, err := sql.Open("sqlite", "file:"+esc.Replace(path)+"?mode=ro&_pragma=query_only(ON)&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatalf("opening %s: %v", path, err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// queryStrings runs a query whose rows are one text column.
func queryStrings(t *testing.T, db *sql.DB, query string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(query, args...)
	if err != nil {
		t.Fatalf("query %s: %v", query, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatalf("query %s: %v", query, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("query %s: %v", query, err)
	}
	return out
}
