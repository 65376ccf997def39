// Package issuertest runs a real issuer for tests of other packages, the
// way net/http/httptest runs a real server.
package issuertest

import (
	"context"
	"crypto/x509"
	"testing"
	"time"

	"github.com/lantls/lantls/issuer"
)

// Start runs an issuer on 127.0.0.1 port 0 (HTTPS, plain HTTP and DNS) in a
// temporary data dir, with the zone lan.test and the local signer unless
// cfg says otherwise, and returns it with a pool that holds its root. Cleanup stops it and fails
// the test if Run did not return cleanly within 15 seconds.
func Start(t testing.TB, cfg issuer.Config) (*issuer.Issuer, *x509.CertPool) {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.Zone == "" {
		cfg.Zone = "lan.test"
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.HTTPListen == "" {
		cfg.HTTPListen = "127.0.0.1:0"
	}
	if cfg.DNSListen == "" {
		cfg.DNSListen = "127.0.0.1:0"
	}
	if cfg.Signer == "" {
		cfg.Signer = "local"
	}
	ctx, cancel := context.WithCancel(context.Background())
	iss, err := issuer.New(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- iss.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("issuer Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("issuer did not stop within 15s")
		}
	})
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(iss.RootPEM())
	return iss, roots
}
