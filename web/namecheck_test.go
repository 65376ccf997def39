package web_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/lantls/lantls/agent"
	"github.com/lantls/lantls/internal/testwait"
	"github.com/lantls/lantls/store"
)

// TestAgentNameCheckReachesPage runs a real agent behind a resolver with a
// DNS-rebind filter (every answer NOERROR and empty, as dnsmasq's
// --stop-dns-rebind leaves a private one): its report travels the device
// API to the owner's device page and list, which say "Your router filters
// these names".
func TestAgentNameCheckReachesPage(t *testing.T) {
	t.Parallel()
	f := start(t)
	u := f.addUser(t, "alice", store.RoleOwner)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) }, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })

	a, err := agent.New(agent.Config{
		Issuer: f.ip, Roots: f.roots, Storage: agent.DirStorage(t.TempDir()), Model: "Aurora TV 55", Hostname: "tv",
		Addresses: func() ([]netip.Addr, error) { return []netip.Addr{netip.MustParseAddr("192.168.1.20")}, nil },
		NameCheck: pc.LocalAddr().String(), Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	testwait.For(t, 20*time.Second, "the agent to show a code", func() bool { return a.Pending() != nil })
	if err := f.iss.Pairing().Approve(context.Background(), a.Pending().UserCode, u.OwnerID, "alice"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.Ready():
	case <-time.After(20 * time.Second):
		t.Fatal("the agent has no certificate")
	}

	b := f.browser(t)
	b.login("alice")
	d, err := f.iss.Store().GetDeviceByLabel(context.Background(), a.Status().Label)
	if err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 20*time.Second, "a name check to reach the issuer", func() bool {
		s, _ := f.iss.Store().GetDeviceStatus(context.Background(), d.ID)
		return s != nil && s.NameCheck.Result != store.NameCheckNone
	})
	b.want(b.get("/devices/"+d.ID), http.StatusOK, "Your router filters these names", "192-168-1-20."+d.Label+".lan.test", "rebind-domain-ok=/lan.test/")
	b.want(b.get("/"), http.StatusOK, "Your router filters these names")
}
