//go:build !unix

package agentcmd

import "os"

// renewSignal is nil where there is no SIGUSR1 (Windows): no signal
// renews at once there.
var renewSignal os.Signal
