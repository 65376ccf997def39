//go:build !linux

package dnsserver

import "net"

const reusePortSupported = false

// listenUDP binds the one UDP socket of the server.
func listenUDP(addr string) (net.PacketConn, error) {
	return net.ListenPacket("udp", addr)
}
