package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/lantls/lantls/doctor"
)

const doctorUsage = `lantls doctor [--device NAME|URL] [--issuer URL] [--json]

Walks the chain from a device's name to its page, from this machine:
does the resolver answer the zone, does it drop private answers for
public names (a DNS-rebind filter), does the name resolve, is the device
reachable, is its certificate valid for the name and unexpired, is its
root trusted here (the system store and NSS), will renewal happen in
time. Each step prints OK or FAIL with the one thing to do; the exit
status is 0 only when no step failed.`

func runDoctor(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "doctor", doctorUsage)
	var cfg doctor.Config
	fs.StringVar(&cfg.Device, "device", "", "the device's `name` (192-168-1-20.L.ZONE, tv.ZONE) or the URL of its page")
	fs.StringVar(&cfg.Issuer, "issuer", "", "the issuer's base `URL`: check it too, and name its root in the fixes")
	fs.StringVar(&cfg.Zone, "zone", "", "the issuer's `zone` (default: the part of the device's name after its label, or after its first label)")
	fs.StringVar(&cfg.Resolver, "resolver", "", "ask this DNS resolver `address` (IP or IP:PORT) instead of the first nameserver in /etc/resolv.conf")
	fs.DurationVar(&cfg.Timeout, "timeout", 3e9, "bound on each network step")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	if cfg.Device == "" && cfg.Issuer == "" {
		return usagef("give --device NAME|URL, --issuer URL or both; run 'lantls doctor --help'")
	}
	r, err := doctor.Run(ctx, cfg)
	if err != nil {
		return usagef("%v", err)
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return err
		}
	} else if err := r.WriteText(e.stdout); err != nil {
		return err
	}
	if n := r.Failed(); n > 0 {
		return fmt.Errorf("%d of %d checks failed; each FAIL above says what to do", n, len(r.Checks))
	}
	return nil
}
