package agent

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/lantls/lantls/internal/testwait"
	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/store"
)

// addressResolver is a DNS resolver on 127.0.0.1 that answers
// address-names with the address in them, as the issuer's DNS does, or,
// with filter set, as a resolver with a DNS-rebind filter does: NOERROR
// without the private answer.
func addressResolver(t *testing.T, filter bool) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) }, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		name := strings.TrimSuffix(q.Question[0].Name, ".")
		first, _, _ := strings.Cut(name, ".")
		if a, err := names.ParseAddressLabel(first); err == nil && !filter && a.Is4() && q.Question[0].Qtype == dns.TypeA {
			rr, _ := dns.NewRR(q.Question[0].Name + " 60 IN A " + a.String())
			m.Answer = append(m.Answer, rr)
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// TestNameCheck checks, against the real issuer, that the agent resolves
// one of its address-names through the resolver it is given and that the
// outcome reaches the device's status: filtered behind a DNS-rebind
// filter, ok behind a resolver that passes private answers.
func TestNameCheck(t *testing.T) {
	t.Parallel()
	ti := newTestIssuer(t)
	for _, tt := range []struct {
		filter bool
		want   store.NameCheckResult
	}{{true, store.NameCheckFiltered}, {false, store.NameCheckOK}} {
		cfg := ti.config(DirStorage(t.TempDir()))
		cfg.NameCheck = addressResolver(t, tt.filter)
		a, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		runAgent(t, a)
		ti.approve(a)
		waitReady(t, a)
		d, err := ti.iss.Store().GetDeviceByLabel(context.Background(), a.credentials().Label)
		if err != nil {
			t.Fatal(err)
		}
		want := names.AddressName(testAddrs()[0], d.Label, ti.iss.Info().Zone)
		var got store.NameCheck
		testwait.Until(20*time.Second, func() bool {
			s, err := ti.iss.Store().GetDeviceStatus(context.Background(), d.ID)
			if err != nil {
				t.Fatal(err)
			}
			got = s.NameCheck
			return got.Result != store.NameCheckNone
		})
		if got.Result != tt.want || got.Name != want || got.At.IsZero() {
			t.Errorf("filter %v: name check %+v, want %s for %s", tt.filter, got, tt.want, want)
		}
	}
}

func TestCheckAddress(t *testing.T) {
	for _, tt := range []struct {
		in   []string
		want string
	}{
		{[]string{"127.0.0.1", "192.168.1.20"}, "192.168.1.20"},
		{[]string{"fe80::1", "127.0.0.1"}, "fe80::1"},
		{[]string{"fd00::20"}, "fd00::20"},
		{nil, ""},
	} {
		got, ok := checkAddress(tt.in)
		if ok != (tt.want != "") || ok && got.String() != tt.want {
			t.Errorf("checkAddress(%q) = %v, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
}
