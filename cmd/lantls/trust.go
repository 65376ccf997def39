package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/lantls/lantls/ca/local"
	"github.com/lantls/lantls/issuer"
	"github.com/lantls/lantls/trust"
)

const trustUsage = `lantls trust install|uninstall|status [--root FILE | --issuer URL --fingerprint SHA256] [flags]

Commands:
  install    add the root to the system store and every NSS database
             (Chromium, Firefox); it refuses a root without name
             constraints unless --allow-unconstrained
  uninstall  remove it from them
  status     say where it is trusted

The root comes from --root FILE (PEM or DER), or from the issuer's plain
HTTP address (--issuer http://HOST:PORT) checked against --fingerprint,
which the issuer shows on its /trust page and at start: there is no trust
on first use. Without either, the root of the issuer in --data.
Each command first prints the root's fingerprint and what it permits;
install then asks, on a terminal, whether the fingerprint is the issuer's
(not with --fingerprint or --yes). The
system store needs root (sudo); NSS databases are the user's (under sudo,
the invoking user's).`

func runTrust(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usagef("want install, uninstall or status; run 'lantls trust --help'")
	}
	var op func(context.Context, *x509.Certificate, trust.Options) ([]trust.Result, error)
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprintln(e.stdout, "Usage: "+trustUsage)
		return nil
	case "install":
		op = trust.Install
	case "uninstall":
		op = trust.Uninstall
	case "status":
		op = trust.Status
	default:
		return usagef("unknown command %q: want install, uninstall or status; run 'lantls trust --help'", args[0])
	}
	verb := args[0]
	fs := newFlags(e, "trust "+verb, "lantls trust "+verb+" [--root FILE | --issuer URL --fingerprint SHA256] [flags]")
	rootFile := fs.String("root", "", "the root certificate `file`, PEM or DER")
	issuerURL := fs.String("issuer", "", "the issuer's plain HTTP `URL` (http://HOST:PORT), to fetch the root from; needs --fingerprint")
	fingerprint := fs.String("fingerprint", "", "the root's `SHA-256` in hex, as the issuer shows it; a root that does not match is refused")
	dataDir := fs.String("data", issuer.Defaults.DataDir, "the issuer's data `dir`, whose root to use when neither --root nor --issuer is given")
	var o trust.Options
	fs.BoolVar(&o.System, "system", true, "include the system store (update-ca-certificates, update-ca-trust, trust anchor, the macOS System keychain or the Windows Root store)")
	fs.BoolVar(&o.NSS, "nss", true, "include the NSS databases: ~/.pki/nssdb (Chromium) and Firefox profiles")
	fs.StringVar(&o.Home, "home", "", "home `dir` to find NSS databases in (default $HOME; under sudo, the invoking user's)")
	fs.Var((*stringList)(&o.NSSDBs), "nssdb", "comma-separated more NSS database `dirs`")
	fs.BoolVar(&o.AllowUnconstrained, "allow-unconstrained", false, "install a root without name constraints, which can vouch for every name")
	yes := fs.Bool("yes", false, "install without asking, on a terminal, whether the fingerprint is the issuer's")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	if verb != "status" && o.System && runtime.GOOS == "linux" && os.Geteuid() != 0 {
		return errors.New("the system store needs root: run it with sudo, or pass --system=false for your NSS databases alone")
	}
	root, err := trustRoot(ctx, *rootFile, *issuerURL, *fingerprint, *dataDir)
	if err != nil {
		return err
	}
	d := local.Describe(root)
	fmt.Fprint(e.stdout, d)
	if !d.Constrained {
		fmt.Fprintln(e.stdout, "WARNING: this root could vouch for any name on the internet.")
	}
	fmt.Fprintln(e.stdout)
	if verb == "install" && *fingerprint == "" && !*yes && stdinIsTerminal() {
		fmt.Fprint(e.stdout, "Is this the fingerprint the issuer shows (its /trust page, or 'lantls ca show' on it)? Trust this root? [y/N] ")
		answer, _ := firstLine(os.Stdin)
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			return errors.New("nothing changed: the root was not confirmed")
		}
	}
	results, err := op(ctx, root, o)
	for _, r := range results {
		fmt.Fprintln(e.stdout, r)
	}
	switch {
	case errors.Is(err, trust.ErrUnconstrained):
		return fmt.Errorf("%w; nothing changed. Make a constrained root with 'lantls ca init', or pass --allow-unconstrained", err)
	case errors.Is(err, trust.ErrNoStore):
		return fmt.Errorf("%w: --system=false and no NSS database (Chromium makes ~/.pki/nssdb at its first start; Firefox a profile)", err)
	case err != nil && isPermission(err):
		return fmt.Errorf("%w; run it with sudo, or leave the store out (--system=false, --nss=false)", err)
	}
	return err
}

// trustRoot reads or fetches the root the flags name.
func trustRoot(ctx context.Context, file, issuerURL, fingerprint, dataDir string) (*x509.Certificate, error) {
	switch {
	case file != "" && issuerURL != "":
		return nil, usagef("give --root or --issuer, not both")
	case issuerURL != "" && fingerprint == "":
		return nil, usagef("--issuer needs --fingerprint: the root's SHA-256 as the issuer's /trust page or its start-up output shows it")
	case issuerURL != "":
		want, err := trust.ParseFingerprint(fingerprint)
		if err != nil {
			return nil, usagef("--fingerprint: %v", err)
		}
		return trust.Fetch(ctx, issuerURL, want)
	}
	if file == "" {
		file = filepath.Join(dataDir, "ca", local.RootCertFile)
		if _, err := os.Stat(file); err != nil {
			return nil, usagef("give the root with --root FILE, or --issuer URL --fingerprint SHA256 (no issuer data dir at %s)", dataDir)
		}
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	root, err := trust.ParseRoot(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if fingerprint != "" {
		want, err := trust.ParseFingerprint(fingerprint)
		if err != nil {
			return nil, usagef("--fingerprint: %v", err)
		}
		if !trust.MatchFingerprint(root, want) {
			return nil, fmt.Errorf("%s does not have the fingerprint given: do not trust it", file)
		}
	}
	if err := trust.CheckRoot(root); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return root, nil
}

func isPermission(err error) bool {
	return errors.Is(err, os.ErrPermission) || strings.Contains(err.Error(), "ermission denied")
}
