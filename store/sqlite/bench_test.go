package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lantls/lantls/store"
)

// BenchmarkIssuancePath runs, per iteration, the store work of one full ACME
// issuance by a paired device: 7 nonces consumed, newAccount (CreateAccount
// and UseEABKey in one Update), newOrder (an order with 2 authorizations),
// two authorization fetches, finalize (CreateCertificate and UpdateOrder in
// one Update), an order poll and the certificate download, with the account
// read on every request after newAccount. Pairing (the device and its EAB
// key) happens before the timer starts.
//
// It runs with one client goroutine per core, and with 16 per core, closer
// to a loaded server where many requests are in flight and writes share
// commits. issuances/s is the rate of whole iterations across all
// goroutines; cpu-µs/op the process's CPU time (user and system) per
// issuance.
func BenchmarkIssuancePath(b *testing.B) {
	for _, perCore := range []int{1, 16} {
		b.Run(fmt.Sprintf("clients=%d", perCore*runtime.GOMAXPROCS(0)), func(b *testing.B) {
			benchmarkIssuancePath(b, perCore)
		})
	}
}

func benchmarkIssuancePath(b *testing.B, perCore int) {
	ctx := b.Context()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "lantls.db"))
	if err != nil {
		b.Fatalf("Open: %v", err)
	}
	defer s.Close()
	pair(b, s, b.N)
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(perCore)
	b.ResetTimer()
	cpu := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := issue(ctx, s, strconv.FormatInt(next.Add(1)-1, 10)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "issuances/s")
	b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
}

// cpuTime returns the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var (
	benchJWK   = []byte(`{"crv":"P-256","kty":"EC","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`)
	benchChain = bytes.Repeat([]byte("MIIBszCCAVmgAwIBAgIQ"), 80) // about the size of a two-certificate ECDSA chain
)

// pair creates n devices, each with an unused EAB key, as pairing would.
func pair(b *testing.B, s *Store, n int) {
	b.Helper()
	ctx := b.Context()
	o, err := s.EnsureOwner(ctx, "bench")
	if err != nil {
		b.Fatalf("EnsureOwner: %v", err)
	}
	const batch = 1000
	for start := 0; start < n; start += batch {
		err := s.Update(ctx, func(tx store.Tx) error {
			for i := start; i < min(start+batch, n); i++ {
				id := strconv.Itoa(i)
				d := &store.Device{ID: "dev-" + id, Label: "label-" + id, OwnerID: o.ID, Status: store.StatusActive}
				if err := tx.CreateDevice(ctx, d); err != nil {
					return err
				}
				k := &store.EABKey{KID: "kid-" + id, DeviceID: d.ID, HMACKey: []byte("0123456789abcdef0123456789abcdef")}
				if err := tx.CreateEABKey(ctx, k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatalf("pair: %v", err)
		}
	}
}

// issue does the store work of issuance number id.
func issue(ctx context.Context, s *Store, id string) error {
	now := time.Now()
	nonceExpiry := now.Add(time.Hour)
	nonces := 0
	request := func(withAccount bool) error {
		nonces++
		if err := s.ConsumeNonce(ctx, "nonce-"+id+"-"+strconv.Itoa(nonces), nonceExpiry); err != nil {
			return err
		}
		if withAccount {
			_, err := s.GetAccount(ctx, "acct-"+id)
			return err
		}
		return nil
	}

	// newAccount.
	if err := request(false); err != nil {
		return err
	}
	acct := &store.Account{
		ID: "acct-" + id, DeviceID: "dev-" + id, KeyThumbprint: "tp-" + id, KeyJWK: benchJWK,
		Status: store.StatusValid, EABKID: "kid-" + id, CreatedAt: now,
	}
	err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.CreateAccount(ctx, acct); err != nil {
			return err
		}
		return tx.UseEABKey(ctx, acct.EABKID, acct.ID, now)
	})
	if err != nil {
		return err
	}

	// newOrder: the pairing owns the names, so both authorizations are
	// valid and the order ready at once.
	if err := request(true); err != nil {
		return err
	}
	name := "label-" + id + ".lan.example.net"
	o := &store.Order{
		ID: "order-" + id, AccountID: acct.ID, DeviceID: acct.DeviceID, Status: store.StatusReady,
		Identifiers: []store.Identifier{{Type: "dns", Value: name}, {Type: "dns", Value: "*." + name}},
		Expires:     now.Add(time.Hour), CreatedAt: now,
	}
	authzs := []*store.Authorization{
		{ID: "authz-" + id + "-1", Identifier: store.Identifier{Type: "dns", Value: name},
			Status: store.StatusValid, Expires: now.Add(time.Hour), Challenges: []store.Challenge{}},
		{ID: "authz-" + id + "-2", Identifier: store.Identifier{Type: "dns", Value: name}, Wildcard: true,
			Status: store.StatusValid, Expires: now.Add(time.Hour), Challenges: []store.Challenge{}},
	}
	if err := s.CreateOrder(ctx, o, authzs); err != nil {
		return err
	}

	// The client fetches both authorizations.
	for _, a := range authzs {
		if err := request(true); err != nil {
			return err
		}
		if _, err := s.GetAuthorization(ctx, a.ID); err != nil {
			return err
		}
	}

	// finalize.
	if err := request(true); err != nil {
		return err
	}
	if _, err := s.GetOrder(ctx, o.ID); err != nil {
		return err
	}
	serial := "5e" + id
	c := &store.Certificate{
		Serial: serial, DeviceID: o.DeviceID, AccountID: acct.ID, OrderID: o.ID,
		Names: []string{name, "*." + name}, NotBefore: now, NotAfter: now.Add(47 * 24 * time.Hour),
		ChainPEM: benchChain, CreatedAt: now,
	}
	err = s.Update(ctx, func(tx store.Tx) error {
		if err := tx.CreateCertificate(ctx, c); err != nil {
			return err
		}
		done := *o
		done.Status, done.CertificateSerial = store.StatusValid, serial
		return tx.UpdateOrder(ctx, &done, store.StatusReady)
	})
	if err != nil {
		return err
	}

	// The client polls the order, then downloads the certificate.
	if err := request(true); err != nil {
		return err
	}
	if _, err := s.GetOrder(ctx, o.ID); err != nil {
		return err
	}
	if err := request(true); err != nil {
		return err
	}
	_, err = s.GetCertificate(ctx, serial)
	return err
}

// BenchmarkWriteReadsDevice runs write transactions that read a device and
// write a rate-limit time, as newOrder's and finalize's do, from 16
// clients per core; cpu-µs/op is the process's CPU time per transaction.
// The device comes from the row cache, exact inside the transaction
// (cache.go); before it did, the read went to SQLite (17 against 10 µs).
func BenchmarkWriteReadsDevice(b *testing.B) {
	ctx := b.Context()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "lantls.db"))
	if err != nil {
		b.Fatalf("Open: %v", err)
	}
	defer s.Close()
	const devices = 1000
	pair(b, s, devices)
	var next atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	cpu := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := next.Add(1)
			id := "dev-" + strconv.FormatInt(n%devices, 10)
			err := s.Update(ctx, func(tx store.Tx) error {
				if _, err := tx.GetDevice(ctx, id); err != nil {
					return err
				}
				return tx.SetLimitTAT(ctx, "bench:"+strconv.FormatInt(n, 10), time.Now().Add(time.Hour))
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
}
