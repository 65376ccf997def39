package issuer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/lantls/lantls/internal/testwait"
)

// newTestIssuer makes an issuer in dir on 127.0.0.1 with every listener.
func newTestIssuer(t *testing.T, ctx context.Context, dir string) *Issuer {
	t.Helper()
	iss, err := New(ctx, Config{DataDir: dir, Zone: "lan.test", Listen: "127.0.0.1:0",
		HTTPListen: "127.0.0.1:0", DNSListen: "127.0.0.1:0", Signer: "local"})
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

// waitGoroutines waits until no more goroutines run than before.
func waitGoroutines(t *testing.T, before int, what string) {
	t.Helper()
	var now int
	if !testwait.Until(5*time.Second, func() bool { now = runtime.NumGoroutine(); return now <= before }) {
		buf := make([]byte, 1<<20)
		t.Fatalf("%s: %d goroutines left running, %d before:\n%s", what, now, before, buf[:runtime.Stack(buf, true)])
	}
}

// Run joins every goroutine it starts: after it returns nothing of the
// issuer runs, so the store it closed is closed for good. Started and
// stopped repeatedly, the issuer leaves no goroutine behind.
func TestRunLeavesNoGoroutines(t *testing.T) {
	dir := t.TempDir()
	before := runtime.NumGoroutine()
	for i := range 4 {
		ctx, cancel := context.WithCancel(t.Context())
		iss := newTestIssuer(t, ctx, dir)
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(iss.RootPEM())
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
		client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		done := make(chan error, 1)
		go func() { done <- iss.Run(ctx) }()
		resp, err := client.Get(iss.Info().BaseURL + "/healthz")
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		resp.Body.Close()
		tr.CloseIdleConnections()
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("round %d: Run: %v", i, err)
		}
		waitGoroutines(t, before, "after Run returned")
	}
}

// A server that fails stops the rest: Run returns its error, once every
// other goroutine has ended, without its context being cancelled.
func TestRunStopsAllWhenAServerFails(t *testing.T) {
	before := runtime.NumGoroutine()
	iss := newTestIssuer(t, t.Context(), t.TempDir())
	iss.ln.Close() // the HTTPS server fails at once
	done := make(chan error, 1)
	go func() { done <- iss.Run(t.Context()) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Run returned nil after its HTTPS listener failed")
		}
	case <-time.After(15 * time.Second):
		buf := make([]byte, 1<<20)
		t.Fatalf("Run went on after its HTTPS listener failed:\n%s", buf[:runtime.Stack(buf, true)])
	}
	if iss.store != nil {
		t.Error("Run returned without closing the store")
	}
	waitGoroutines(t, before, "after Run failed")
}
