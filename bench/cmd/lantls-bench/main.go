// Command lantls-bench is the load client and seeder of the benchmarks
// (bench/*.sh): `lantls-bench issue` drives whole ACME issuances from many
// simulated devices, `lantls-bench seed` bulk-creates devices in an
// issuer's store. It is its own command so that the shipping lantls binary
// links no benchmark code.
package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/lantls/lantls/bench"
	"github.com/lantls/lantls/internal/cli"
	"github.com/lantls/lantls/issuer"
)

const benchUsage = `lantls-bench <command> [flags]

Commands:
  issue  drive whole ACME issuances from many simulated devices at once
  seed   bulk-create devices with EAB keys in an issuer's store

Run 'lantls-bench <command> --help' for its flags; bench/README.md tells
how bench/issue.sh compares the issuer with Pebble and step-ca.`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, &env{stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:])
	stop()
	os.Exit(code)
}

// env is what a command may touch: its output streams.
type env struct {
	stdout io.Writer
	stderr io.Writer
}

// run runs the command args names and turns its error into an exit
// status: 2 for a usage error, 1 for any other.
func run(ctx context.Context, e *env, args []string) int {
	err := runBench(ctx, e, args)
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "lantls-bench: %v\n", err)
		return 2
	}
	fmt.Fprintf(e.stderr, "lantls-bench: %v\n", err)
	return 1
}

func runBench(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usagef("want 'issue' or 'seed'; run 'lantls-bench --help'")
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprintf(e.stdout, "Usage: %s\n", benchUsage)
		return nil
	case "issue":
		return benchIssue(ctx, e, args[1:])
	case "seed":
		return benchSeed(ctx, e, args[1:])
	}
	return usagef("unknown command %q: want 'issue' or 'seed'; run 'lantls-bench --help'", args[0])
}

const benchIssueUsage = `lantls-bench issue --directory URL [--eab-file FILE] --n N --c C [flags]

Each simulated device makes a new P-256 account key, registers (with the
next EAB key of --eab-file, one per line), orders its names, answers
http-01 on --http01 where an authorization is pending, finalizes with a CSR
for a new P-256 key and downloads the chain. The run stops after N
issuances or --duration, whichever comes first; Ctrl-C stops it at once
with a partial report. Progress goes to stderr every second, the report to
stdout.

--eab-file takes what 'lantls admin device add --count N --json' prints
(JSON lines with eab_kid, eab_hmac_key and names) or 'KID HMACKEY' lines,
whose names come from --names-template. Without --eab-file no EAB is sent
and --names-template names every device.

Examples:
  lantls admin --data D device add --owner bench --name dev --count 2000 --json > eab.jsonl
  lantls-bench issue --directory https://127.0.0.1:8443/acme/directory \
    --ca-bundle D/ca/root.pem --eab-file eab.jsonl --n 2000 --c 16
  lantls-bench issue --directory https://127.0.0.1:9000/acme/acme/directory \
    --ca-bundle root.pem --names-template 127.0.0.1 --n 500 --c 16`

func benchIssue(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "issue", benchIssueUsage)
	var o bench.Options
	fs.StringVar(&o.Directory, "directory", "", "ACME directory `URL` (required)")
	eabFile := fs.String("eab-file", "", "`file` of EAB keys, one device per line")
	template := fs.String("names-template", "", "comma-separated `names` of device {i}, e.g. 'd{i}.example.com,*.d{i}.example.com' or 127.0.0.1")
	fs.IntVar(&o.N, "n", 0, "issuances to run (default: one per line of --eab-file)")
	fs.IntVar(&o.Concurrency, "c", 4, "devices issuing at once")
	fs.DurationVar(&o.Duration, "duration", time.Minute, "start no new issuance after this `duration`")
	fs.DurationVar(&o.Timeout, "timeout", 0, "cancel everything after this `duration` (default --duration + --issue-timeout)")
	fs.DurationVar(&o.IssueTimeout, "issue-timeout", 30*time.Second, "`limit` of one issuance")
	fs.DurationVar(&o.Stall, "stall", 10*time.Second, "stop when no issuance finished for this `long` (a hung server)")
	fs.DurationVar(&o.PollInterval, "poll", 10*time.Millisecond, "`wait` between polls when the server sends no Retry-After")
	caBundle := fs.String("ca-bundle", "", "PEM `file` of roots for the server's TLS certificate (default: the system's)")
	fs.StringVar(&o.HTTP01Addr, "http01", "127.0.0.1:80", "`address` to answer http-01 challenges on, opened only when one is pending")
	fs.IntVar(&o.Sources, "sources", 0, "spread connections over this many source addresses 127.0.0.1, 127.0.0.2, ... as a fleet's networks (server on 127.0.0.0/8 only)")
	fs.BoolVar(&o.HTTP2, "http2", false, "allow HTTP/2 (default HTTP/1.1, about one connection per device)")
	fs.StringVar(&o.Client, "client", bench.ClientLean, "ACME `client`: lean (this package's) or xacme (golang.org/x/crypto/acme)")
	fs.BoolVar(&o.Verify, "verify", false, "verify every chain against --ca-bundle (costs client CPU)")
	asJSON := fs.Bool("json", false, "print the result as JSON instead of the text report")
	cpuProfile := fs.String("cpuprofile", "", "write the load client's CPU profile to `file`")
	if err := parse(fs, args); err != nil {
		return err
	}
	if o.Directory == "" {
		return usagef("--directory is required, e.g. --directory https://127.0.0.1:8443/acme/directory")
	}
	var err error
	if o.Devices, err = benchDevices(*eabFile, *template, o.N); err != nil {
		return err
	}
	if *caBundle != "" {
		if o.RootCAs, err = readRoots(*caBundle); err != nil {
			return err
		}
	}
	o.Progress = e.stderr
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	res, err := bench.IssueLoad(ctx, o)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	return res.WriteText(e.stdout)
}

// benchDevices reads the devices of --eab-file, or makes n without EAB
// from the names template.
func benchDevices(eabFile, template string, n int) ([]bench.Device, error) {
	if eabFile == "" {
		if template == "" || n <= 0 {
			return nil, usagef("without --eab-file, pass --names-template and --n")
		}
		return bench.TemplateDevices(template, n), nil
	}
	f, err := os.Open(eabFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	devs, err := bench.ReadDevices(f, template, n)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", eabFile, err)
	}
	if len(devs) == 0 {
		return nil, fmt.Errorf("%s holds no devices", eabFile)
	}
	return devs, nil
}

func readRoots(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("read CA bundle: %s holds no PEM certificate", path)
	}
	return pool, nil
}

const benchSeedUsage = `lantls-bench seed [--data DIR] --devices N [flags]

Creates N active devices, each with one unused EAB key, directly in the
issuer's store, --batch per transaction, and prints the database size per
device at the end. The issuer may be running.`

func benchSeed(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "seed", benchSeedUsage)
	dataDir := fs.String("data", issuer.Defaults.DataDir, "the issuer's data `dir`")
	storeURL := fs.String("store", "", "the issuer's --store `URL`, if it has one (PostgreSQL)")
	var o bench.SeedOptions
	fs.IntVar(&o.Devices, "devices", 0, "how many devices to create (required)")
	fs.StringVar(&o.Owner, "owner", "bench", "the devices' owner `name` (created if new)")
	fs.IntVar(&o.Batch, "batch", 5000, "devices per transaction")
	eabOut := fs.String("eab-out", "", "also write each device's EAB key as a JSON line to `file`, as 'device add --json' does")
	if err := parse(fs, args); err != nil {
		return err
	}
	if o.Devices < 1 {
		return usagef("--devices must be at least 1")
	}
	if fi, err := os.Stat(*dataDir); err != nil || !fi.IsDir() {
		return fmt.Errorf("data dir %s does not exist: start 'lantls issuer --data %s' once, or pass --data", *dataDir, *dataDir)
	}
	o.Zone = issuer.Defaults.Zone
	info, err := issuer.ReadInfo(*dataDir)
	switch {
	case err == nil:
		o.Zone = info.Zone
	case errors.Is(err, os.ErrNotExist):
		fmt.Fprintf(e.stderr, "note: no issuer has run with --data %s yet; assuming zone %s\n", *dataDir, o.Zone)
	default:
		return err
	}
	st, err := issuer.OpenStore(ctx, *dataDir, *storeURL)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer st.Close()
	if *eabOut != "" {
		f, err := os.OpenFile(*eabOut, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		o.Credentials = f
	}
	start := time.Now()
	last := start
	o.Progress = func(done int) {
		if now := time.Now(); now.Sub(last) >= time.Second || done == o.Devices {
			last = now
			fmt.Fprintf(e.stderr, "seeded %d/%d devices (%.0f/s)\n", done, o.Devices, float64(done)/now.Sub(start).Seconds())
		}
	}
	n, err := bench.Seed(ctx, st, o)
	if err != nil {
		return err
	}
	if err := st.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	took := time.Since(start)
	if *storeURL != "" {
		fmt.Fprintf(e.stdout, "seeded %d devices in %.1fs (%.0f/s)\n", n, took.Seconds(), float64(n)/took.Seconds())
		return nil
	}
	size := fileSize(filepath.Join(*dataDir, "lantls.db")) + fileSize(filepath.Join(*dataDir, "lantls.db-wal"))
	fmt.Fprintf(e.stdout, "seeded %d devices in %.1fs (%.0f/s)\ndatabase %d bytes (lantls.db + -wal), %.0f bytes per device\n",
		n, took.Seconds(), float64(n)/took.Seconds(), size, float64(size)/float64(n))
	return nil
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// usageError is a mistake in how the command was called: exit status 2.
type usageError = cli.UsageError

func usagef(format string, args ...any) error { return cli.Usagef(format, args...) }

// newFlags returns a flag set whose --help prints usage and the flags to
// stdout.
func newFlags(e *env, name, usage string) *flag.FlagSet { return cli.NewFlags(e.stdout, name, usage) }

// parse parses args; other errors than --help, and arguments besides
// flags, become usage errors that name the command's help.
func parse(fs *flag.FlagSet, args []string) error {
	if err := cli.Parse(fs, "lantls-bench "+fs.Name(), args); err != nil {
		return err
	}
	return cli.NoArgs(fs, "lantls-bench "+fs.Name())
}
