//go:build !unix

package announce

import "net"

// listenMDNS opens a UDP socket on port 5353 where the platform allows
// sharing it; elsewhere an ephemeral port, which strict queriers ignore.
func listenMDNS(network string, _ *net.Interface) (*net.UDPConn, error) {
	c, err := net.ListenUDP(network, &net.UDPAddr{Port: 5353})
	if err != nil {
		return net.ListenUDP(network, nil)
	}
	return c, nil
}
