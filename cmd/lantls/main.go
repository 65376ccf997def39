// Command lantls runs the lantls issuer and its tools: HTTPS certificates
// for devices on local networks.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/lantls/lantls/internal/cli"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// command is one subcommand: its flags are parsed by run itself.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *env, args []string) error
}

// env is what a command may touch: its output streams.
type env struct {
	stdout io.Writer
	stderr io.Writer
}

func commands() []command {
	return []command{
		{"issuer", "run the issuer: ACME server with a local CA", runIssuer},
		{"admin", "manage devices in an issuer's data dir", runAdmin},
		{"ca", "make the issuer's CA, rotate its intermediate, show its root", runCA},
		{"trust", "trust an issuer's root on this machine (system store, Chromium, Firefox)", runTrust},
		{"agent", "run the device agent: pair, get and renew a certificate, serve it", runAgent},
		{"doctor", "say why a device's HTTPS does not work from this machine, and what to do", runDoctor},
		{"demo", "run the whole system on loopback and show it working", runDemo},
		{"health", "exit 0 if the issuer of a data dir answers its health check", runHealth},
		{"version", "print the version", runVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, &env{stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:])
	stop()
	os.Exit(code)
}

// usageError is a mistake in how the command was called: exit status 2.
type usageError = cli.UsageError

func usagef(format string, args ...any) error { return cli.Usagef(format, args...) }

// run dispatches args to a command and turns its error into an exit status.
func run(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(e.stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, e, args[1:])
		var ue *usageError
		switch {
		case err == nil, errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, &ue):
			fmt.Fprintf(e.stderr, "lantls %s: %v\n", c.name, err)
			return 2
		default:
			fmt.Fprintf(e.stderr, "lantls %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(e.stderr, "lantls: unknown command %q; run 'lantls --help' for the list of commands\n", args[0])
	return 2
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `lantls gives devices on local networks real HTTPS certificates.

Usage:
  lantls <command> [flags]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Run 'lantls <command> --help' for a command's flags.
Start here: 'lantls demo' runs everything on loopback.
`)
}

// newFlags returns a flag set whose --help prints usage and the flags to
// stdout.
func newFlags(e *env, name, usage string) *flag.FlagSet { return cli.NewFlags(e.stdout, name, usage) }

// parse parses args, printing usage for --help and turning other errors
// into usage errors that name the command's help.
func parse(fs *flag.FlagSet, args []string) error { return cli.Parse(fs, "lantls "+fs.Name(), args) }

// noArgs fails when a command that takes only flags got more.
func noArgs(fs *flag.FlagSet) error { return cli.NoArgs(fs, "lantls "+fs.Name()) }

// stringList is a flag that takes a comma-separated list.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(s string) error {
	*l = nil
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

func runVersion(_ context.Context, e *env, args []string) error {
	fs := newFlags(e, "version", "lantls version")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "lantls", version)
	return nil
}
