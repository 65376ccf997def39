package agent

import (
	"io"
	"net"
	"sync"
	"testing"
)

// gate is a TCP forwarder on a fixed loopback port that the test opens and
// closes, standing for a network or an issuer that is down: while closed
// nothing listens on the port (connection refused).
type gate struct {
	t      *testing.T
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

// newGate reserves a port for a forwarder to target; it starts closed.
func newGate(t *testing.T, target string) *gate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{t: t, target: target, addr: ln.Addr().String(), conns: map[net.Conn]bool{}}
	ln.Close()
	t.Cleanup(func() { g.close(); g.wg.Wait() })
	return g
}

// open starts forwarding.
func (g *gate) open() {
	g.t.Helper()
	ln, err := net.Listen("tcp", g.addr)
	if err != nil {
		g.t.Fatalf("reopen %s: %v", g.addr, err)
	}
	g.mu.Lock()
	g.ln = ln
	g.mu.Unlock()
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			g.forward(c)
		}
	}()
}

func (g *gate) forward(c net.Conn) {
	up, err := net.Dial("tcp", g.target)
	if err != nil {
		c.Close()
		return
	}
	g.mu.Lock()
	g.conns[c], g.conns[up] = true, true
	g.mu.Unlock()
	for _, p := range [][2]net.Conn{{c, up}, {up, c}} {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			io.Copy(p[0], p[1])
			p[0].Close()
			p[1].Close()
		}()
	}
}

// close stops listening and cuts every connection.
func (g *gate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln != nil {
		g.ln.Close()
		g.ln = nil
	}
	for c := range g.conns {
		c.Close()
		delete(g.conns, c)
	}
}

// url is the gate's https:// base URL.
func (g *gate) url() string { return "https://" + g.addr }
