package main

import (
	"context"

	"github.com/lantls/lantls/demo"
)

func runDemo(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "demo", "lantls demo [--upstream [--pebble FILE]] [--attest] [--check] [--data DIR]")
	opts := demo.Options{Out: e.stdout}
	fs.BoolVar(&opts.Upstream, "upstream", false, "get the certificate from a public ACME CA: Pebble, Let's Encrypt's test CA, beside the issuer (the issuer's --signer upstream), run by the lantls-pebble command")
	fs.StringVar(&opts.Pebble, "pebble", "", "path of the lantls-pebble `command` (default: beside lantls, in PATH, or built from the source tree with go)")
	fs.BoolVar(&opts.Attest, "attest", false, "require the demo device's model to attest its key (ACME device-attest-01); the device uses a software attester and a test manufacturer CA, NOT FOR PRODUCTION")
	fs.BoolVar(&opts.Check, "check", false, "fetch the device page trusting only the demo root, print a summary and exit (0 if it works)")
	fs.StringVar(&opts.DataDir, "data", "", "keep the issuer's state in `dir` (default: a temporary dir, removed at exit)")
	fs.StringVar(&opts.Zone, "zone", "", "DNS `zone` for device names (default lan.test)")
	logFlags := addLogFlags(fs, "warn")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	logger, err := logFlags.logger(e)
	if err != nil {
		return err
	}
	opts.Logger = logger
	return demo.Run(ctx, opts)
}
