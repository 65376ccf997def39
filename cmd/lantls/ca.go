package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/lantls/lantls/ca/local"
	"github.com/lantls/lantls/issuer"
)

const caUsage = `lantls ca init|rotate-intermediate|show [flags]

Commands:
  init                 make the issuer's CA: a root whose critical name
                       constraints permit the zone and --permit alone,
                       and an intermediate with the same constraints; the
                       root key goes to --root-key-out, never the data dir
  rotate-intermediate  make a new intermediate with the root key
                       (--root-key FILE); a running issuer takes it
                       within 10 seconds, with no restart
  show                 print the root's fingerprint and what it permits

Run 'lantls ca <command> --help' for a command's flags.`

func runCA(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usagef("want init, rotate-intermediate or show; run 'lantls ca --help'")
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprintln(e.stdout, "Usage: "+caUsage)
		return nil
	case "init":
		return caInit(e, args[1:])
	case "rotate-intermediate":
		return caRotate(e, args[1:])
	case "show":
		return caShow(e, args[1:])
	}
	return usagef("unknown command %q: want init, rotate-intermediate or show; run 'lantls ca --help'", args[0])
}

// caDirFlags are the flags that find the CA directory, as the issuer does.
type caDirFlags struct{ data, caDir string }

func addCADirFlags(fs *flag.FlagSet) *caDirFlags {
	f := &caDirFlags{}
	fs.StringVar(&f.data, "data", issuer.Defaults.DataDir, "the issuer's data `dir`; the CA is in DATA/ca")
	fs.StringVar(&f.caDir, "ca-dir", "", "the CA `dir`, as the issuer's --ca-dir (default DATA/ca)")
	return f
}

func (f *caDirFlags) dir() string {
	if f.caDir != "" {
		return f.caDir
	}
	return filepath.Join(f.data, "ca")
}

func caInit(e *env, args []string) error {
	fs := newFlags(e, "ca init", "lantls ca init [--data DIR | --ca-dir DIR] [--zone ZONE] [--permit NAMES] [--root-key-out FILE] [--encrypt | --passphrase-file FILE]")
	dirs := addCADirFlags(fs)
	zone := fs.String("zone", issuer.Defaults.Zone, "DNS `zone` device names live in: the root permits it and every name below it")
	permit := stringList{"localhost", "127.0.0.1"}
	fs.Var(&permit, "permit", "comma-separated DNS `names`, IP addresses and CIDR prefixes the root permits besides the zone: the issuer's --hostname names outside the zone and its listen IP, 'local' for mDNS names; every other IP address is excluded (replaces the default)")
	keyOut := fs.String("root-key-out", "", "`file` for the root key, outside the data dir (default DATA-root.key)")
	encrypt := fs.Bool("encrypt", false, "encrypt the root key with a passphrase asked for on the terminal")
	passFile := fs.String("passphrase-file", "", "encrypt the root key with the first line of this `file`")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	out := *keyOut
	if out == "" {
		abs, err := filepath.Abs(dirs.data)
		if err != nil {
			return err
		}
		out = abs + "-root.key"
	}
	if abs, err := filepath.Abs(out); err == nil {
		if data, err := filepath.Abs(dirs.data); err == nil && local.Inside(abs, data) {
			return usagef("--root-key-out %s is inside --data %s, which the running issuer reads: keep the root key elsewhere", out, dirs.data)
		}
	}
	pass, err := passphrase(e, *passFile, *encrypt, true)
	if err != nil {
		return err
	}
	root, err := local.Init(dirs.dir(), local.InitOptions{Zone: *zone, Permit: permit, RootKeyFile: out, Passphrase: pass})
	var ee *local.ExistsError
	if errors.As(err, &ee) && ee.RootKey {
		return fmt.Errorf("%w (--root-key-out)", err)
	}
	if errors.As(err, &ee) {
		return fmt.Errorf("%w; to re-key, stop the issuer and move the CA directory aside first (devices' clients must then trust the new root)", err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Made a CA in %s.\n\n%s\nThe root's key is in\n  %s\n", dirs.dir(), local.Describe(root), out)
	fmt.Fprint(e.stdout, `The issuer never reads it. Move it off this machine (a USB stick, a password
manager): it is needed only for 'lantls ca rotate-intermediate', before the
intermediate expires in `+fmt.Sprint(local.IntermediateLifetimeYears)+` years.
Clients trust the root with 'lantls trust install', or from the issuer's /trust page.
`)
	return nil
}

// passphrase reads the root key's passphrase from file, or from the
// terminal when ask is set (twice when confirm is set), else returns nil.
func passphrase(e *env, file string, ask, confirm bool) ([]byte, error) {
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("--passphrase-file: %w", err)
		}
		defer f.Close()
		line, err := firstLine(f)
		if err != nil || line == "" {
			return nil, fmt.Errorf("--passphrase-file %s: want the passphrase on its first line", file)
		}
		return []byte(line), nil
	}
	if !ask {
		return nil, nil
	}
	pw, tty, err := readSecret(e.stderr, "Passphrase for the root key: ")
	if err != nil {
		return nil, err
	}
	if pw == "" {
		return nil, errors.New("the passphrase is empty")
	}
	if confirm && tty {
		again, _, err := readSecret(e.stderr, "Again: ")
		if err != nil {
			return nil, err
		}
		if again != pw {
			return nil, errors.New("the passphrases differ")
		}
	}
	return []byte(pw), nil
}

func caRotate(e *env, args []string) error {
	fs := newFlags(e, "ca rotate-intermediate", "lantls ca rotate-intermediate --root-key FILE [--data DIR | --ca-dir DIR] [--passphrase-file FILE]")
	dirs := addCADirFlags(fs)
	keyFile := fs.String("root-key", "", "the root key `file` that 'lantls ca init' wrote")
	passFile := fs.String("passphrase-file", "", "read the root key's passphrase from the first line of this `file` (default: ask, if it is encrypted)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	if *keyFile == "" {
		return usagef("--root-key FILE is required: the root key that 'lantls ca init' wrote")
	}
	b, err := os.ReadFile(*keyFile)
	if err != nil {
		return fmt.Errorf("--root-key: %w", err)
	}
	pass, err := passphrase(e, *passFile, local.IsEncrypted(b), false)
	if err != nil {
		return err
	}
	key, err := local.ReadRootKey(*keyFile, pass)
	if errors.Is(err, local.ErrPassphrase) {
		return fmt.Errorf("%w; check the passphrase", err)
	}
	if err != nil {
		return err
	}
	inter, err := local.RotateIntermediate(dirs.dir(), key, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, `Made a new intermediate in %s, valid until %s.
A running issuer signs with it within 10 seconds, with no restart
(instances sharing a --store: copy the CA directory to each). Certificates
the old one signed stay valid until they expire, as both chain to the same
root, and the issuer still knows them as its own (ARI, revocation).
`, dirs.dir(), inter.NotAfter.UTC().Format("2 Jan 2006"))
	return nil
}

func caShow(e *env, args []string) error {
	fs := newFlags(e, "ca show", "lantls ca show [--data DIR | --ca-dir DIR]")
	dirs := addCADirFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	root, err := readCertFile(filepath.Join(dirs.dir(), local.RootCertFile))
	if err != nil {
		return err
	}
	fmt.Fprint(e.stdout, local.Describe(root))
	fmt.Fprintf(e.stdout, "valid until  %s\n", root.NotAfter.UTC().Format("2 Jan 2006"))
	if inter, err := readCertFile(filepath.Join(dirs.dir(), local.IntermediateCertFile)); err == nil {
		fmt.Fprintf(e.stdout, "\nintermediate %s, valid until %s (rotate it before: lantls ca rotate-intermediate)\n",
			inter.Subject.CommonName, inter.NotAfter.UTC().Format("2 Jan 2006"))
	}
	if _, err := os.Stat(filepath.Join(dirs.dir(), local.RootKeyFile)); err == nil {
		fmt.Fprintf(e.stdout, "\nWARNING: %s holds the root's key, which the issuer does not need: move it off this machine\n",
			filepath.Join(dirs.dir(), local.RootKeyFile))
	}
	return nil
}

func readCertFile(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: want a PEM certificate", path)
	}
	return x509.ParseCertificate(block.Bytes)
}
