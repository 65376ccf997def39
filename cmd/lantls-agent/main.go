// Command lantls-agent is the lantls device agent alone, small enough for
// devices: it pairs the device with its owner, gets and renews its HTTPS
// certificate, and serves it (proxy mode), writes it (files mode) or keeps
// it for the device's own server. Run 'lantls-agent --help';
// 'lantls-agent version' prints its version.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/lantls/lantls/agent/agentcmd"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if len(os.Args) == 2 && (os.Args[1] == "version" || os.Args[1] == "--version") {
		fmt.Println("lantls-agent", version)
		return
	}
	// Devices are small: unless GOGC says otherwise, collect when the heap
	// has grown by half rather than doubled. With 100 keep-alive clients
	// this keeps RSS under 20 MB at little cost in throughput (a soft
	// GOMEMLIMIT of 12 MiB held RSS lower but made the proxy GC-bound).
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := agentcmd.Run(ctx, "lantls-agent", os.Args[1:], os.Stdout, os.Stderr)
	stop()
	var ue *agentcmd.UsageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "lantls-agent: %v\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "lantls-agent: %v\n", err)
		os.Exit(1)
	}
}
