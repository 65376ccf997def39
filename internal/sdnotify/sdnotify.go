// Package sdnotify tells systemd about a service's state, as sd_notify(3)
// does: READY=1 once it serves (for units with Type=notify), STOPPING=1
// when it begins to shut down. It is the few lines of the protocol: one
// datagram of newline-separated assignments to the unix socket that
// systemd names in NOTIFY_SOCKET.
package sdnotify

import (
	"fmt"
	"net"
)

// The states a service sends.
const (
	Ready    = "READY=1"
	Stopping = "STOPPING=1"
)

// Notify sends state (one or more "KEY=value" lines) to socket, the value
// of NOTIFY_SOCKET. An empty socket (not started by systemd) does nothing.
// A socket starting with @ is in the abstract namespace.
func Notify(socket, state string) error {
	if socket == "" {
		return nil
	}
	name := socket
	if name[0] == '@' {
		name = "\x00" + name[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}
