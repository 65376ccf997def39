package agentcmd

import (
	"context"
	"log/slog"

	"github.com/lantls/lantls/agent"
)

// announce announces the device over DNS-SD until ctx ends.
func announce(ctx context.Context, a *agent.Agent, port, ifname string, log *slog.Logger) {
	select {
	case <-a.Ready():
	case <-ctx.Done():
		return
	}
	if err := a.Announce(ctx, agent.AnnounceConfig{Port: port, Interface: ifname}); err != nil && ctx.Err() == nil {
		log.Warn("mDNS announcement", "err", err)
	}
}
