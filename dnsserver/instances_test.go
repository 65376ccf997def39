package dnsserver

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/lantls/lantls/store"
	"github.com/lantls/lantls/store/postgres"
	"github.com/lantls/lantls/store/postgres/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// Two issuer instances on one PostgreSQL database each run a DNS server
// from their own store; with the default poll, a change made through
// either reaches the answers of both within a second, and both give the
// zone the same serial.
func TestInstancesFollowEachOther(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	var (
		stores [2]*postgres.Store
		addrs  [2]string
		srvs   [2]*Server
	)
	for i := range stores {
		st, err := postgres.Open(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		stores[i] = st
	}
	ctx := t.Context()
	owner, err := stores[0].EnsureOwner(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	dev := addDevice(t, stores[0], owner, store.StatusActive, store.PublishOn, "192.168.1.20")
	for i, st := range stores {
		srv, err := New(ctx, Config{Zone: testZone, Source: st, Listen: "127.0.0.1:0", RRL: RRL{Off: true}})
		if err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { srv.Run(runCtx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
		srvs[i], addrs[i] = srv, srv.Addr().String()
	}
	devName := dev.Label + "." + testZone + "."
	addrOf := func(i int) string {
		r := query(t, addrs[i], "udp", devName, dns.TypeA, 0)
		if len(r.Answer) != 1 {
			return dns.RcodeToString[r.Rcode]
		}
		return r.Answer[0].(*dns.A).A.String()
	}
	serials := func() [2]uint32 {
		var s [2]uint32
		for i := range addrs {
			s[i] = query(t, addrs[i], "udp", testZone+".", dns.TypeSOA, 0).Answer[0].(*dns.SOA).Serial
		}
		return s
	}

	// Through B: both answer the new address.
	if err := stores[1].SetDeviceAddresses(ctx, dev.ID, []netip.Addr{netip.MustParseAddr("10.9.8.7")}); err != nil {
		t.Fatal(err)
	}
	for i := range addrs {
		within(t, time.Second, "an address set through the other instance", func() bool { return addrOf(i) == "10.9.8.7" })
	}
	within(t, time.Second, "the same serial on both", func() bool { s := serials(); return s[0] == s[1] })

	// A revocation through A: both answer NXDOMAIN for its address-names.
	d := *dev
	d.Status, d.RevokedAt = store.StatusRevoked, time.Now()
	if err := stores[0].UpdateDevice(ctx, &d); err != nil {
		t.Fatal(err)
	}
	name := "192-168-1-20." + devName
	for i := range addrs {
		within(t, time.Second, "a revocation made through the other instance", func() bool {
			return query(t, addrs[i], "udp", name, dns.TypeA, 0).Rcode == dns.RcodeNameError
		})
	}
}
