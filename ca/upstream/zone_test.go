package upstream

import (
	"context"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/lantls/lantls/store"
)

// zone is a stand-in for the issuer's DNS area and server: TXT records
// put through store transactions and served over TCP and UDP.
type zone struct {
	mu  sync.Mutex
	txt map[string][]string
}

type zoneStore struct {
	store.Store
	z *zone
}

type zoneTx struct {
	store.Tx
	z *zone
}

func (s zoneStore) Update(ctx context.Context, fn func(tx store.Tx) error) error {
	return s.Store.Update(ctx, func(tx store.Tx) error { return fn(zoneTx{tx, s.z}) })
}

func (t zoneTx) PutTXT(ctx context.Context, name, value string, expires time.Time) error {
	t.z.mu.Lock()
	defer t.z.mu.Unlock()
	t.z.txt[name] = append(t.z.txt[name], value)
	return nil
}

func (t zoneTx) DeleteTXT(ctx context.Context, name, value string) error {
	t.z.mu.Lock()
	defer t.z.mu.Unlock()
	var keep []string
	for _, v := range t.z.txt[name] {
		if v != value {
			keep = append(keep, v)
		}
	}
	if len(keep) == 0 {
		delete(t.z.txt, name)
	} else {
		t.z.txt[name] = keep
	}
	return nil
}

func txtCount(s store.Store) int {
	z := s.(zoneStore).z
	z.mu.Lock()
	defer z.mu.Unlock()
	n := 0
	for _, vs := range z.txt {
		n += len(vs)
	}
	return n
}

// startZone serves s's TXT records on one port over TCP and UDP.
func startZone(t *testing.T, s store.Store) (store.Store, string) {
	t.Helper()
	z := &zone{txt: map[string][]string{}}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		q := r.Question[0]
		name := strings.ToLower(strings.TrimSuffix(q.Name, "."))
		z.mu.Lock()
		for _, v := range z.txt[name] {
			if q.Qtype == dns.TypeTXT {
				m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 0}, Txt: []string{v}})
			}
		}
		z.mu.Unlock()
		w.WriteMsg(m)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	for _, srv := range []*dns.Server{{Listener: ln, Handler: h}, {PacketConn: pc, Handler: h}} {
		go srv.ActivateAndServe()
		t.Cleanup(func() { srv.Shutdown() })
	}
	return zoneStore{s, z}, ln.Addr().String()
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
