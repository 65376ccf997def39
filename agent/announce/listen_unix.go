//go:build unix

package announce

import (
	"context"
	"net"
	"syscall"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// listenMDNS opens a UDP socket on port 5353 shared with the responder
// and any other mDNS daemon, sending on ifc when it is set.
func listenMDNS(network string, ifc *net.Interface) (*net.UDPConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
			if serr == nil {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	addr := ":5353"
	pc, err := lc.ListenPacket(context.Background(), network, addr)
	if err != nil {
		return nil, err
	}
	c := pc.(*net.UDPConn)
	if network == "udp4" {
		p := ipv4.NewPacketConn(c)
		p.SetMulticastTTL(255)
		p.SetMulticastLoopback(true)
		if ifc != nil {
			err = p.SetMulticastInterface(ifc)
		}
	} else {
		p := ipv6.NewPacketConn(c)
		p.SetMulticastHopLimit(255)
		p.SetMulticastLoopback(true)
		if ifc != nil {
			err = p.SetMulticastInterface(ifc)
		}
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}
