// Command lantls-pebble runs Pebble, Let's Encrypt's test CA, on loopback
// as the public CA of `lantls demo --upstream`. It lives outside the lantls
// binary so that the shipping binary links no test CA.
//
// It prints one JSON line (upstreamca.Ready: the ACME directory, the DNS
// address its validation authority asks, its HTTPS and issuing roots)
// once it serves, then serves until its standard input closes, SIGTERM or
// Ctrl-C.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/lantls/lantls/demo/upstreamca"
	"github.com/lantls/lantls/internal/pebble"
)

func main() {
	fs := flag.NewFlagSet("lantls-pebble", flag.ContinueOnError)
	fs.SetOutput(os.Stdout)
	fs.Usage = func() {
		fmt.Fprint(os.Stdout, `Usage: lantls-pebble [--dns ADDR] [--listen ADDR] [-v]

Runs Pebble, Let's Encrypt's test CA, for 'lantls demo --upstream'. Prints
one JSON line when it serves, then serves until stdin closes or SIGTERM.

Flags:
`)
		fs.PrintDefaults()
	}
	dns := fs.String("dns", "", "loopback `host:port` of the DNS server that validates dns-01 (default: a free port, printed)")
	listen := fs.String("listen", "127.0.0.1:0", "`address` Pebble's ACME server listens on")
	verbose := fs.Bool("v", false, "write Pebble's log to stderr")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if err == flag.ErrHelp {
			os.Exit(0)
		}
		os.Exit(2)
	}
	if err := run(*dns, *listen, *verbose); err != nil {
		fmt.Fprintf(os.Stderr, "lantls-pebble: %v\n", err)
		os.Exit(1)
	}
}

func run(dns, listen string, verbose bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if dns == "" {
		var err error
		if dns, err = pebble.FreeDNSAddr(); err != nil {
			return err
		}
	}
	opts := pebble.Options{DNSServer: dns, Listen: listen}
	if verbose {
		opts.Log = os.Stderr
	}
	srv, err := pebble.Start(opts)
	if err != nil {
		return err
	}
	defer srv.Close()
	ready := upstreamca.Ready{
		Directory:  srv.Directory(),
		DNS:        dns,
		TLSRootPEM: string(srv.TLSRootPEM()),
		RootPEM:    string(srv.RootPEM()),
	}
	if err := json.NewEncoder(os.Stdout).Encode(ready); err != nil {
		return err
	}
	stdinClosed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	select {
	case <-ctx.Done():
	case <-stdinClosed:
	}
	return nil
}
