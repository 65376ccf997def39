package pairing_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/lantls/lantls/ratelimit"
)

// BenchmarkPairing runs whole pairings over loopback HTTP on a SQLite
// store: device authorization with a new P-256 key, approval through the
// Go API, and the token request that collects the credentials (a new EAB
// key and bearer token).
func BenchmarkPairing(b *testing.B) {
	limits := ratelimit.Defaults
	limits.PairingsPerSource = ratelimit.Limit{}
	h := newHarness(b, limits)
	c := h.srv.Client()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		ar, _ := startPairing(b, c, h.srv.URL)
		if err := h.svc.Approve(b.Context(), ar.UserCode, h.owner.ID, "alice"); err != nil {
			b.Fatal(err)
		}
		if a := pollOnce(b, c, h.srv.URL, ar.DeviceCode); a.status != http.StatusOK {
			b.Fatalf("token: %d %s", a.status, a.Error)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "pairings/s")
}
