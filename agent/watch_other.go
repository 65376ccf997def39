//go:build !linux

package agent

import (
	"context"
	"log/slog"
	"time"
)

// watchAddresses signals changed every half second; addressLoop compares
// the addresses and reports only a change. Systems without netlink poll.
func watchAddresses(ctx context.Context, changed chan<- struct{}, _ *slog.Logger) {
	poll(ctx, changed)
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
