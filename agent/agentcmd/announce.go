package agentcmd

import (
	"context"
	"log/slog"

	"github.com/lantls/lantls/agent"
	"github.com/lantls/lantls/agent/announce"
)

// announceWhenReady announces the device over DNS-SD, once it has a
// certificate, until ctx ends.
func announceWhenReady(ctx context.Context, a *agent.Agent, port, ifname string, log *slog.Logger) {
	select {
	case <-a.Ready():
	case <-ctx.Done():
		return
	}
	if err := announce.Run(ctx, a, announce.Config{Port: port, Interface: ifname, Logger: log}); err != nil && ctx.Err() == nil {
		log.Warn("mDNS announcement", "err", err)
	}
}
