package agent

import (
	"context"
	"net"
	"net/http"
	"sync"
	"syscall"
)

// pipeNet is an in-memory network for tests in a testing/synctest bubble,
// whose fake clock advances only while every goroutine of the bubble is
// blocked on something of the bubble: a socket's read is not, a
// net.Pipe's is. It is a listener for an httptest server and a dial
// function for the agent's HTTP client, which reaches the listener while
// the network is up and is refused while it is down. Connections are
// plain HTTP: the dial stands for an HTTPS one already past its handshake.
type pipeNet struct {
	accept chan net.Conn
	closed chan struct{}
	once   sync.Once

	mu    sync.Mutex
	down  bool
	conns []net.Conn
}

func newPipeNet() *pipeNet {
	return &pipeNet{accept: make(chan net.Conn), closed: make(chan struct{})}
}

// Accept, Close and Addr make a pipeNet a net.Listener.
func (n *pipeNet) Accept() (net.Conn, error) {
	select {
	case c := <-n.accept:
		return c, nil
	case <-n.closed:
		return nil, net.ErrClosed
	}
}

func (n *pipeNet) Close() error {
	n.once.Do(func() { close(n.closed) })
	return nil
}

func (n *pipeNet) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 443} }

// url is the https:// base URL the agent is given.
func (n *pipeNet) url() string { return "https://" + n.Addr().String() }

// dial connects to the listener, as http.Transport's DialTLSContext.
func (n *pipeNet) dial(ctx context.Context, network, _ string) (net.Conn, error) {
	n.mu.Lock()
	down := n.down
	n.mu.Unlock()
	if down {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: n.Addr(), Err: syscall.ECONNREFUSED}
	}
	client, server := net.Pipe()
	select {
	case n.accept <- server:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-n.closed:
		return nil, net.ErrClosed
	}
	n.mu.Lock()
	n.conns = append(n.conns, client, server)
	n.mu.Unlock()
	return client, nil
}

// setDown takes the network down (refusing dials and cutting every
// connection) or brings it back up.
func (n *pipeNet) setDown(down bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.down = down
	if down {
		for _, c := range n.conns {
			c.Close()
		}
		n.conns = nil
	}
}

// connect makes a's HTTP client dial n.
func (n *pipeNet) connect(a *Agent) {
	a.httpc.Transport.(*http.Transport).DialTLSContext = n.dial
}
