package agent

import (
	"context"
	"log/slog"
	"time"

	"golang.org/x/sys/unix"
)

// watchAddresses signals changed whenever the kernel announces an address
// added or removed (rtnetlink RTMGRP_IPV4_IFADDR and RTMGRP_IPV6_IFADDR).
// If netlink is unavailable it falls back to polling every half second.
func watchAddresses(ctx context.Context, changed chan<- struct{}, log *slog.Logger) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err == nil {
		err = unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR | unix.RTMGRP_LINK})
		if err != nil {
			unix.Close(fd)
		}
	}
	if err != nil {
		log.Warn("netlink unavailable; polling addresses", "err", err)
		poll(ctx, changed)
		return
	}
	// A read timeout lets the loop notice ctx without closing fd under a
	// blocked read.
	tv := unix.Timeval{Sec: 0, Usec: 200000}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	defer unix.Close(fd)
	buf := make([]byte, 16<<10)
	for ctx.Err() == nil {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err == unix.EAGAIN || err == unix.EINTR || (err == nil && n == 0) {
			continue
		}
		// A message, or ENOBUFS (messages were lost): either way look.
		select {
		case changed <- struct{}{}:
		default:
		}
	}
}

func poll(ctx context.Context, changed chan<- struct{}) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			select {
			case changed <- struct{}{}:
			default:
			}
		}
	}
}
