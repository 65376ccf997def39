//go:build unix

package agentcmd

import (
	"os"
	"syscall"
)

// renewSignal renews the certificate at once.
var renewSignal os.Signal = syscall.SIGUSR1
