// Command issuerprof runs the lantls issuer exactly as `lantls issuer` does
// (issuer.New and Run, SQLite store, local signer) with the Go profilers
// on, so that bench/issue.sh can show what dominates the server's CPU under
// load. It writes the profiles when it gets SIGTERM or SIGINT.
//
//	issuerprof --data DIR --listen 127.0.0.1:8443 --cpuprofile cpu.prof
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"

	"github.com/lantls/lantls/issuer"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "issuerprof:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg := issuer.Defaults
	flag.StringVar(&cfg.DataDir, "data", cfg.DataDir, "the issuer's data `dir`")
	flag.StringVar(&cfg.Zone, "zone", cfg.Zone, "DNS `zone` of device names")
	flag.StringVar(&cfg.Listen, "listen", cfg.Listen, "HTTPS listen `address`")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile to `file`")
	blockProfile := flag.String("blockprofile", "", "write a profile of blocking (channels, locks, I/O waits) to `file`")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	iss, err := issuer.New(ctx, cfg)
	if err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if *blockProfile != "" {
		runtime.SetBlockProfileRate(10_000) // one sample per 10 µs blocked
		defer writeProfile("block", *blockProfile)
	}
	fmt.Printf("issuerprof ready: directory %s root %s\n", iss.Info().Directory, iss.Info().Root)
	return iss.Run(ctx)
}

func writeProfile(name, path string) {
	f, err := os.Create(path)
	if err == nil {
		err = pprof.Lookup(name).WriteTo(f, 0)
		f.Close()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "issuerprof: write %s profile: %v\n", name, err)
	}
}
