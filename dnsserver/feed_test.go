package dnsserver

import (
	"context"
	"database/sql"
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/lantls/lantls/internal/testwait"
	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/store"
	"github.com/lantls/lantls/store/sqlite"
)

// seedDevicesSQL creates n active devices of owner straight in the SQLite
// file at path, in one statement (the store's triggers still record each
// in the change feed): seeding 100,000 through the Store would dominate
// the test under the race detector. Labels are "s" and 25 digits.
func seedDevicesSQL(t testing.TB, path string, owner *store.Owner, n int) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = db.ExecContext(t.Context(), `WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
		INSERT INTO devices (id, label, owner_id, name, model, key_thumbprint, status, created_at)
		SELECT printf('seed%020d', i), printf('s%025d', i), ?, 'seed', '', '', 'active', i FROM seq`, n, owner.ID)
	if err != nil {
		t.Fatalf("seed %d devices: %v", n, err)
	}
}

// seedDevices creates n active devices of owner in transactions of 10,000
// and returns the first of them.
func seedDevices(t testing.TB, st store.Store, owner *store.Owner, n int) *store.Device {
	t.Helper()
	var first *store.Device
	now := time.Now()
	for done := 0; done < n; {
		batch := min(10000, n-done)
		err := st.Update(t.Context(), func(tx store.Tx) error {
			for i := range batch {
				d := &store.Device{Label: names.RandomLabel(), OwnerID: owner.ID, Name: "seed", Status: store.StatusActive,
					CreatedAt: now.Add(time.Duration(done+i) * time.Microsecond)}
				if err := tx.CreateDevice(t.Context(), d); err != nil {
					return err
				}
				if first == nil {
					first = d
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("seed %d devices: %v", n, err)
		}
		done += batch
	}
	return first
}

// waitAnswer asks name's A record until the answer's rcode and first
// address are want (an address, or "NXDOMAIN"), for at most a second, and
// returns how long it took.
func waitAnswer(t *testing.T, addr, name, want string) time.Duration {
	t.Helper()
	start := time.Now()
	c := &dns.Client{Net: "udp", Timeout: time.Second}
	last := ""
	if !testwait.Until(time.Second, func() bool {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		r, _, err := c.Exchange(m, addr)
		if err != nil {
			return false
		}
		last = dns.RcodeToString[r.Rcode]
		if len(r.Answer) > 0 {
			last = r.Answer[0].(*dns.A).A.String()
		}
		return last == want
	}) {
		t.Fatalf("%s: still %q after 1s, want %q", name, last, want)
	}
	return time.Since(start)
}

// TestChangeFeedAt100k checks that with 100,000 devices in the store an
// address change, a revocation and a new device each show in the DNS
// within a second: the index applies the store's change feed instead of
// reloading every device.
func TestChangeFeedAt100k(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 100,000 devices; skipped with -short")
	}
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "lantls.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	owner, err := st.EnsureOwner(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	const zone = "lan.test"
	seedDevicesSQL(t, path, owner, 99999)
	d := seedDevices(t, st, owner, 1)
	srv, err := New(ctx, Config{Zone: zone, Source: st, Listen: "127.0.0.1:0", RRL: RRL{Off: true}})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	addr := srv.Addr().String()
	if got := srv.devs.Load().devices(); got != 100000 {
		t.Fatalf("index holds %d devices, want 100000", got)
	}

	// An address change: a published L.Z answers the new address.
	if err := st.SetDevicePublish(ctx, d.ID, store.PublishOn); err != nil {
		t.Fatal(err)
	}
	if err := st.SetDeviceAddresses(ctx, d.ID, []netip.Addr{netip.MustParseAddr("192.168.7.7")}); err != nil {
		t.Fatal(err)
	}
	took := waitAnswer(t, addr, d.Label+"."+zone+".", "192.168.7.7")
	t.Logf("address change answered after %v", took)

	// A revocation: the device's address-names are gone.
	rev := *d
	rev.Status, rev.RevokedAt = store.StatusRevoked, time.Now()
	if err := st.UpdateDevice(ctx, &rev); err != nil {
		t.Fatal(err)
	}
	took = waitAnswer(t, addr, "192-168-7-7."+d.Label+"."+zone+".", "NXDOMAIN")
	t.Logf("revocation answered after %v", took)

	// A new device: its address-names answer.
	nd := &store.Device{Label: names.RandomLabel(), OwnerID: owner.ID, Name: "new", Status: store.StatusActive}
	if err := st.CreateDevice(ctx, nd); err != nil {
		t.Fatal(err)
	}
	took = waitAnswer(t, addr, "10-1-2-3."+nd.Label+"."+zone+".", "10.1.2.3")
	t.Logf("new device answered after %v", took)
	if got := srv.devs.Load().devices(); got != 100000 {
		t.Errorf("index holds %d devices after one revoked and one added, want 100000", got)
	}
}

// TestShortNameMovesBetweenDevices checks the feed's order: a short name
// freed by one device and taken by another stays with the second even
// when the first changes again later (the feed lists each device once,
// at its last change).
func TestShortNameMovesBetweenDevices(t *testing.T) {
	z := newZone(t, testZone, nil)
	ctx := t.Context()
	a, b := z.quiet, z.public
	if err := z.st.SetDeviceShortName(ctx, a.ID, store.ShortName{Name: "tv"}); err != nil {
		t.Fatal(err)
	}
	waitAnswer(t, z.addr, "tv."+testZone+".", "192.168.1.20")
	if err := z.st.SetDeviceShortName(ctx, a.ID, store.ShortName{}); err != nil {
		t.Fatal(err)
	}
	if err := z.st.SetDeviceShortName(ctx, b.ID, store.ShortName{Name: "tv"}); err != nil {
		t.Fatal(err)
	}
	if err := z.st.SetDeviceAddresses(ctx, a.ID, []netip.Addr{netip.MustParseAddr("192.168.1.21")}); err != nil {
		t.Fatal(err)
	}
	waitAnswer(t, z.addr, "192-168-1-21."+a.Label+"."+testZone+".", "192.168.1.21")
	waitAnswer(t, z.addr, "tv."+testZone+".", "10.0.0.5")
}

// BenchmarkChange measures one change applied through the change feed
// (a store write, then the index's load) with 10,000, 100,000 and
// 1,000,000 devices in the store: the cost should not grow with them.
// bench/dns-feed.sh runs it and records the result.
func BenchmarkChange(b *testing.B) {
	for _, n := range []int{10000, 100000, 1000000} {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) {
			ctx := b.Context()
			path := filepath.Join(b.TempDir(), "lantls.db")
			st, err := sqlite.Open(ctx, path)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			owner, err := st.EnsureOwner(ctx, "alice")
			if err != nil {
				b.Fatal(err)
			}
			seedDevicesSQL(b, path, owner, n-1)
			d := seedDevices(b, st, owner, 1)
			srv, err := New(ctx, Config{Zone: testZone, Source: st, Listen: "127.0.0.1:0", RRL: RRL{Off: true}})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { srv.Close() })
			b.Run("full-load", func(b *testing.B) {
				// What every change cost before the feed: the whole zone.
				for b.Loop() {
					srv.idx.Store(nil)
					if err := srv.load(ctx); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("change", func(b *testing.B) {
				benchChange(b, st, srv, d)
			})
		})
	}
}

// benchChange changes d's address and loads it, b.N times.
func benchChange(b *testing.B, st store.Store, srv *Server, d *store.Device) {
	ctx := b.Context()
	i := 0
	for b.Loop() {
		i++
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if err := st.SetDeviceAddresses(ctx, d.ID, []netip.Addr{a}); err != nil {
			b.Fatal(err)
		}
		if err := srv.load(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
