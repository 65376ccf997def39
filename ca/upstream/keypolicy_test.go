package upstream

import (
	"crypto/rand"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/lantls/lantls/ca"
	"github.com/lantls/lantls/internal/testkeys"
	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
)

// TestEnqueueKeyPolicy runs the key policy table (testkeys) through
// Enqueue: the CSR key of each is queued for the upstream, or refused with
// the table's problem. Each transaction is rolled back, so nothing goes
// upstream.
func TestEnqueueKeyPolicy(t *testing.T) {
	h := newHarness(t)
	s, _ := h.signer(DefaultLimits)
	ctx := t.Context()
	names := h.names()
	errRollBack := errors.New("roll back")
	for _, k := range testkeys.All() {
		t.Run(k.Name, func(t *testing.T) {
			der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: names}, k.Signer)
			if err != nil {
				t.Fatal(err)
			}
			csr, err := x509.ParseCertificateRequest(der)
			if err != nil {
				t.Fatal(err)
			}
			o := &store.Order{
				AccountID: h.acct.ID, DeviceID: h.device.ID, Status: store.StatusReady, Profile: "default",
				Expires:     time.Now().Add(time.Hour),
				Identifiers: []store.Identifier{{Type: "dns", Value: names[0]}, {Type: "dns", Value: names[1]}},
			}
			if err := h.store.CreateOrder(ctx, o, nil); err != nil {
				t.Fatal(err)
			}
			err = h.store.Update(ctx, func(tx store.Tx) error {
				if err := s.Enqueue(ctx, tx, o.ID, ca.Request{CSR: csr, Names: names, Profile: ca.Profiles["default"]}); err != nil {
					return err
				}
				return errRollBack
			})
			switch {
			case k.WantCertificate == "" && !errors.Is(err, errRollBack):
				t.Errorf("Enqueue: %v, want the work queued", err)
			case k.WantCertificate != "" && !problem.Is(err, k.WantCertificate):
				t.Errorf("Enqueue: %v, want %s", err, k.WantCertificate)
			}
		})
	}
}
