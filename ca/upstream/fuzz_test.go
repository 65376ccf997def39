package upstream

import (
	"testing"
	"time"
)

// FuzzParseRetryAfter feeds arbitrary Retry-After values from an upstream
// CA: never a panic, never a negative wait.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"120", "0", "-5", "Wed, 21 Oct 2015 07:28:00 GMT", "", " 7 ", "99999999999999999999"} {
		f.Add(s)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		if d, ok := parseRetryAfter(v, now); ok && d < 0 {
			t.Errorf("parseRetryAfter(%q) = %v", v, d)
		}
	})
}

// FuzzIssuedFrom feeds arbitrary certificate chains from an upstream CA:
// never a panic; a result always has a leaf and a serial.
func FuzzIssuedFrom(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))
	f.Add([]byte{})
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, chain []byte) {
		issued, err := issuedFrom(chain)
		if err == nil && (issued.Serial == nil || len(issued.DER) == 0 || len(issued.ChainPEM) == 0) {
			t.Errorf("issuedFrom accepted a chain without a leaf: %+v", issued)
		}
	})
}
