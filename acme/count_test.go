package acme_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// A counter is one figure a store keeps of what it did (statements, round
// trips, commits), read before and after each request of an issuance.
type counter struct {
	name string
	read func() int64
}

// countIssuance runs one full issuance of a new device's two names
// through h (newNonce, newAccount with EAB, newOrder, both
// authorizations, finalize, the certificate's download) and returns, per
// counter, how much it grew over the issuance; with log it also logs each
// request's share. TestPostgresRoundTrips and TestSQLiteStatements hold
// an issuance to bounds with it.
func countIssuance(t *testing.T, h *harness, log bool, counters ...counter) []int64 {
	t.Helper()
	ctx := context.Background()
	dev := h.newDevice("")
	c := h.client(nil)
	var o, done *order
	steps := []struct {
		name string
		do   func() error
	}{
		{"newNonce", func() error { _, err := c.Nonce(ctx); return err }},
		{"newAccount (EAB)", func() error {
			res, err := c.Register(ctx, dev.eabKID, dev.eabKey)
			if err == nil && res.Status != http.StatusCreated {
				t.Fatalf("register: %v", res)
			}
			return err
		}},
		{"newOrder", func() (err error) {
			o, err = h.tryNewOrder(c, map[string]any{"identifiers": dnsIDs(dev.name(""), "*."+dev.name(""))})
			return err
		}},
		{"authorizations", func() error {
			for _, u := range o.Authorizations {
				res, err := c.Post(ctx, u, nil)
				if err != nil {
					return err
				}
				if res.Status != http.StatusOK {
					t.Fatalf("authorization: %v", res)
				}
			}
			return nil
		}},
		{"finalize", func() (err error) {
			done, err = h.tryFinalize(c, o, newKey(t))
			return err
		}},
		{"certificate", func() error {
			_, err := h.tryDownload(c, done.Certificate)
			return err
		}},
	}
	totals := make([]int64, len(counters))
	before := make([]int64, len(counters))
	for _, s := range steps {
		for i, k := range counters {
			before[i] = k.read()
		}
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		var shares []string
		for i, k := range counters {
			n := k.read() - before[i]
			totals[i] += n
			shares = append(shares, fmt.Sprintf("%d %s", n, k.name))
		}
		if log {
			t.Logf("%-17s %s", s.name, strings.Join(shares, ", "))
		}
	}
	return totals
}
