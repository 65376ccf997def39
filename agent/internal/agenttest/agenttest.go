// Package agenttest runs a real issuer and an agent against it, for the
// tests of the agent's sub-packages (proxy, onboard), which cannot reach
// the agent package's own test helpers.
package agenttest

import (
	"context"
	"crypto/x509"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/lantls/lantls/agent"
	"github.com/lantls/lantls/internal/testwait"
	"github.com/lantls/lantls/issuer"
	"github.com/lantls/lantls/issuer/issuertest"
)

// Device is a running agent and the issuer it pairs with.
type Device struct {
	Agent  *agent.Agent
	Issuer *issuer.Issuer
	// Roots hold the issuer's root, which signs the device's certificate.
	Roots *x509.CertPool
	t     testing.TB
}

// Start runs an issuer and an agent that reports 192.168.1.20 and waits
// for its owner; Cleanup stops both.
func Start(t testing.TB) *Device {
	t.Helper()
	iss, roots := issuertest.Start(t, issuer.Config{})
	a, err := agent.New(agent.Config{Issuer: iss.Info().BaseURL, Roots: roots, Storage: agent.DirStorage(t.TempDir()),
		Model: "test", Hostname: "tv", RetryBase: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
		Addresses: func() ([]netip.Addr, error) { return []netip.Addr{netip.MustParseAddr("192.168.1.20")}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10s of cancel")
		}
	})
	return &Device{Agent: a, Issuer: iss, Roots: roots, t: t}
}

// Paired is Start with the device approved and serving its certificate.
func Paired(t testing.TB) *Device {
	t.Helper()
	d := Start(t)
	d.Approve()
	d.WaitReady()
	return d
}

// Code waits for the user code the agent shows.
func (d *Device) Code() string {
	d.t.Helper()
	testwait.For(d.t, 20*time.Second, "a user code", func() bool { return d.Agent.Pending() != nil })
	return d.Agent.Pending().UserCode
}

// Approve approves the device's code as its owner, alice.
func (d *Device) Approve() {
	d.t.Helper()
	ctx := context.Background()
	owner, err := d.Issuer.Store().EnsureOwner(ctx, "alice")
	if err != nil {
		d.t.Fatal(err)
	}
	if err := d.Issuer.Pairing().Approve(ctx, d.Code(), owner.ID, "test"); err != nil {
		d.t.Fatal(err)
	}
}

// WaitReady waits until the agent serves a certificate.
func (d *Device) WaitReady() {
	d.t.Helper()
	select {
	case <-d.Agent.Ready():
	case <-time.After(20 * time.Second):
		d.t.Fatalf("no certificate within 20s; status %+v", d.Agent.Status())
	}
}
