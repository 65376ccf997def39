package main

import (
	"context"
	"errors"

	"github.com/lantls/lantls/agent/agentcmd"
)

// runAgent is `lantls agent`: the same command as the lantls-agent binary.
func runAgent(ctx context.Context, e *env, args []string) error {
	err := agentcmd.Run(ctx, "lantls agent", args, e.stdout, e.stderr)
	var ue *agentcmd.UsageError
	if errors.As(err, &ue) {
		return usagef("%s", ue.Msg)
	}
	return err
}
