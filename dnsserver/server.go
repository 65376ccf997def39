// Package dnsserver is the issuer's authoritative DNS server for its zone,
// on github.com/miekg/dns, over UDP and TCP. It answers from an in-memory
// index that it keeps current by polling the store's DNS change counter,
// so a query never touches the store.
package dnsserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Server is a running DNS server. Make one with New, serve with Run.
type Server struct {
	cfg     Config
	idx     atomic.Pointer[index]
	devs    atomic.Pointer[deviceTable]
	udp     []net.PacketConn
	tcp     net.Listener
	rrl     *limiter
	metrics *metrics
	apex    apex

	loadMu sync.Mutex // one load at a time
}

// New checks cfg, loads the zone from the store and binds the UDP and TCP
// listeners, so the address is known and answers are right before Run.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	s := &Server{cfg: cfg}
	if err := s.listen(); err != nil {
		return nil, err
	}
	if len(s.cfg.NS) == 0 {
		s.cfg.NS = []NameServer{defaultNS(s.cfg.Zone, s.Addr())}
	}
	s.apex = newApex(&s.cfg)
	s.metrics = newMetrics(cfg.Registerer, s)
	if !s.cfg.RRL.Off {
		s.rrl = newLimiter(s.cfg.RRL)
	}
	if err := s.load(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("dns: load zone: %w", err)
	}
	return s, nil
}

// defaultNS is ns.<zone>, glued to the listen address when that is a
// specific address.
func defaultNS(zone string, addr netip.AddrPort) NameServer {
	ns := NameServer{Name: "ns." + zone}
	if a := addr.Addr(); a.IsValid() && !a.IsUnspecified() {
		ns.Addrs = []netip.Addr{a.Unmap()}
	}
	return ns
}

// Addr returns the address the server listens on (UDP and TCP).
func (s *Server) Addr() netip.AddrPort {
	return s.tcp.Addr().(*net.TCPAddr).AddrPort()
}

// Allowed reports whether addr is in the ranges address-names and
// published addresses may point into.
func (s *Server) Allowed(addr netip.Addr) bool { return s.cfg.allowed(addr) }

// Allow returns the allowed ranges.
func (s *Server) Allow() []netip.Prefix { return s.cfg.Allow }

// Run serves until ctx is done, then closes the listeners and returns once
// every goroutine it started has ended.
func (s *Server) Run(ctx context.Context) error {
	servers := make([]*dns.Server, 0, len(s.udp)+1)
	for _, pc := range s.udp {
		servers = append(servers, &dns.Server{
			PacketConn:    pc,
			Handler:       dns.HandlerFunc(s.serveUDP),
			UDPSize:       4096,
			MsgAcceptFunc: accept,
		})
	}
	servers = append(servers, &dns.Server{
		Listener:      s.tcp,
		Handler:       dns.HandlerFunc(s.serveTCP),
		ReadTimeout:   5 * time.Second,
		WriteTimeout:  5 * time.Second,
		MaxTCPQueries: 1000,
		MsgAcceptFunc: accept,
	})
	errc := make(chan error, len(servers))
	var wg sync.WaitGroup
	// Every goroutine ends before Run returns: the caller may close the
	// store next.
	defer wg.Wait()
	// A server shut down before it has started serving would serve on:
	// each one's shutdown waits until it started, or ended on its own.
	ready := make([]chan struct{}, len(servers))
	for i, srv := range servers {
		ready[i] = make(chan struct{})
		var once sync.Once
		signal := func() { once.Do(func() { close(ready[i]) }) }
		srv.NotifyStartedFunc = signal
		wg.Go(func() {
			defer signal()
			errc <- srv.ActivateAndServe()
		})
	}
	pctx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	wg.Go(func() { s.poll(pctx) })
	s.cfg.Logger.Info("dns server started", "addr", s.Addr().String(), "zone", s.cfg.Zone)
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		err = fmt.Errorf("dns: serve: %w", err)
	}
	for i, srv := range servers {
		<-ready[i]
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		srv.ShutdownContext(sctx)
		cancel()
	}
	return err
}

// Close closes the listeners of a server that never ran.
func (s *Server) Close() error {
	var errs []error
	for _, pc := range s.udp {
		errs = append(errs, pc.Close())
	}
	if s.tcp != nil {
		errs = append(errs, s.tcp.Close())
	}
	return errors.Join(errs...)
}

// Refresh makes the index current now, rather than at the next poll: for
// callers that have just changed the store and want the DNS to show it.
// Right after a slow load (a large zone) it leaves the change to the
// poller.
func (s *Server) Refresh(ctx context.Context) error {
	return s.load(ctx)
}

// poll reloads the index whenever the store's change counter moves or a
// TXT record expires, until ctx is done.
func (s *Server) poll(ctx context.Context) {
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.load(ctx); err != nil && ctx.Err() == nil {
			s.metrics.reloadErrors.Inc()
			s.cfg.Logger.Error("dns: reload zone", "err", err)
		}
	}
}

// applyBatch is how many changed devices are applied under one hold of
// the table's write lock: queries wait at most that long.
const applyBatch = 1000

// load makes the index current. The first load reads the whole zone;
// every later one, when the store's counter moved or a TXT record in the
// index has expired, reads only the devices changed since (the change
// feed, store.DNSChanges) and the TXT records, so a change costs the same
// with a hundred devices as with a million.
func (s *Server) load(ctx context.Context) error {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	old := s.idx.Load()
	now := s.cfg.Now()
	if old == nil {
		snap, err := s.cfg.Source.DNSSnapshot(ctx, now)
		if err != nil {
			return err
		}
		s.devs.Store(newDeviceTable(snap.Devices, &s.cfg))
		s.idx.Store(buildIndex(snap.Version, snap.TXT, &s.cfg))
		s.metrics.reloads.Inc()
		s.cfg.Logger.Debug("dns: zone loaded", "version", snap.Version, "devices", len(snap.Devices))
		return nil
	}
	v, err := s.cfg.Source.DNSVersion(ctx)
	if err != nil {
		return err
	}
	if v == old.version && (old.expires.IsZero() || now.Before(old.expires)) {
		return nil
	}
	delta, err := s.cfg.Source.DNSChanges(ctx, old.version, now)
	if err != nil {
		return err
	}
	t := s.devs.Load()
	for i := 0; i < len(delta.Devices); i += applyBatch {
		t.mu.Lock()
		for _, d := range delta.Devices[i:min(i+applyBatch, len(delta.Devices))] {
			t.apply(d, &s.cfg)
		}
		t.mu.Unlock()
	}
	s.idx.Store(buildIndex(delta.Version, delta.TXT, &s.cfg))
	s.metrics.reloads.Inc()
	s.cfg.Logger.Debug("dns: changes applied", "version", delta.Version, "devices changed", len(delta.Devices))
	return nil
}

// listen binds TCP on the configured address, then UDP on the same port:
// one socket per CPU where the system can share a port between sockets
// (SO_REUSEPORT), so that reading packets is not one goroutine's job. With
// port 0 it tries a few ports, in case the one TCP got is taken for UDP.
func (s *Server) listen() error {
	var err error
	for range 5 {
		if err = s.listenOnce(); err == nil {
			return nil
		}
		s.Close()
		s.tcp, s.udp = nil, nil
		if _, port, _ := net.SplitHostPort(s.cfg.Listen); port != "0" {
			break
		}
	}
	return err
}

func (s *Server) listenOnce() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("dns: listen on %s: %w", s.cfg.Listen, err)
	}
	s.tcp = ln
	addr := ln.Addr().String()
	n := 1
	if reusePortSupported {
		n = min(runtime.GOMAXPROCS(0), 8)
	}
	for range n {
		pc, err := listenUDP(addr)
		if err != nil {
			return fmt.Errorf("dns: listen on %s/udp: %w", addr, err)
		}
		s.udp = append(s.udp, pc)
	}
	return nil
}

// accept screens a message by its header before it is parsed: responses
// are dropped, other opcodes than QUERY are NOTIMP, and a query must ask
// exactly one question and carry nothing in its answer and authority
// sections (FORMERR otherwise).
func accept(h dns.Header) dns.MsgAcceptAction {
	const qr = 1 << 15
	switch {
	case h.Bits&qr != 0:
		return dns.MsgIgnore
	case int(h.Bits>>11)&0xf != dns.OpcodeQuery:
		return dns.MsgRejectNotImplemented
	case h.Qdcount != 1 || h.Ancount != 0 || h.Nscount != 0 || h.Arcount > 2:
		return dns.MsgReject
	}
	return dns.MsgAccept
}
