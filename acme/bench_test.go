package acme_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/lantls/lantls/acme"
	"github.com/lantls/lantls/acme/internal/acmetest"
)

// BenchmarkIssuance runs whole issuances through the HTTP handler in
// parallel, each with a new account: directory, newNonce, newAccount with
// EAB, newOrder for L.Z and *.L.Z, finalize, certificate download. The EAB
// key is made directly in the store, as the owner UI would. Profile the
// server path with -cpuprofile.
func BenchmarkIssuance(b *testing.B) {
	// As the issuer runs it: one instance, nonces tracked in memory.
	h := newHarness(b, func(c *acme.Config) { c.LocalNonces = true })
	dev := h.newDevice("")
	names := []string{dev.name(""), "*." + dev.name("")}
	tr := h.ts.Client().Transport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	hc := &http.Client{Transport: tr}

	issueOne := func() error {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		c, err := acmetest.NewClient(h.ctx, hc, h.dirURL, key)
		if err != nil {
			return err
		}
		kid, hmacKey, err := h.tryNewEAB(dev.ID)
		if err != nil {
			return err
		}
		res, err := c.Register(h.ctx, kid, hmacKey)
		if err != nil {
			return err
		}
		if res.Status != http.StatusCreated {
			return fmt.Errorf("register: %v", res)
		}
		certKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		_, _, err = h.tryIssue(c, certKey, names...)
		return err
	}

	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := issueOne(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "issuances/s")
}
