package upstream

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/lantls/lantls/dnsserver"
	"github.com/lantls/lantls/store"
)

// startZone serves s's zone with the issuer's DNS server on a free port
// (UDP and TCP), as an issuer does, and returns its address.
func startZone(t *testing.T, s store.Store) (store.Store, string) {
	t.Helper()
	srv, err := dnsserver.New(t.Context(), dnsserver.Config{
		Zone:   testZone,
		Source: s,
		Listen: "127.0.0.1:0",
		RRL:    dnsserver.RRL{Off: true},
		Poll:   20 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("start DNS server: %v", err)
	}
	done := make(chan struct{})
	go func() { srv.Run(t.Context()); close(done) }()
	t.Cleanup(func() { <-done })
	return s, srv.Addr().String()
}

// txtCount counts the TXT records in s's zone.
func txtCount(s store.Store) int {
	snap, err := s.DNSSnapshot(context.Background(), time.Now())
	if err != nil {
		return -1
	}
	return len(snap.TXT)
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != want {
		t.Errorf("%s has mode %v, want %v", path, fi.Mode().Perm(), want)
	}
}
