package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/lantls/lantls/devices"
)

const attestUsage = `lantls admin attest list
lantls admin attest set MODEL required|optional|off|default

Whether devices of MODEL (the model a device reports when it pairs; ""
for devices added for stock ACME clients) must prove that their
certificate key lives in hardware of a known maker, with ACME
device-attest-01 (draft-ietf-acme-device-attest):
  required  no certificate without an attestation that chains to one of
            the issuer's --attest-roots
  optional  a device may attest, and must then pass
  off       a device may not attest; its pairing alone is the proof
  default   remove the rule: optional when the issuer has --attest-roots,
            off when it has none`

// runAttest lists or sets the attestation rules of device models.
func (a *admin) runAttest(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("'attest' needs a command: list, or set MODEL RULE; run 'lantls admin attest set --help'")
	}
	switch args[0] {
	case "list":
		return a.attestList(ctx, args[1:])
	case "set":
		return a.attestSet(ctx, args[1:])
	}
	return usagef("unknown attest command %q: use list, or set MODEL RULE", args[0])
}

func (a *admin) attestList(ctx context.Context, args []string) error {
	fs := a.subFlags("attest list", attestUsage)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	st, _, err := a.open(ctx, "")
	if err != nil {
		return err
	}
	defer st.Close()
	rules, err := devices.AttestRules(ctx, st)
	if err != nil {
		return err
	}
	if len(rules) == 0 {
		fmt.Fprintln(a.stdout, "(no rules: every model is optional where the issuer has --attest-roots, off where not)")
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tRULE\tSET BY\tSET AT")
	for _, r := range rules {
		fmt.Fprintf(tw, "%q\t%s\t%s\t%s\n", r.Model, r.Rule, r.Actor, r.UpdatedAt.Format(time.RFC3339))
	}
	return tw.Flush()
}

func (a *admin) attestSet(ctx context.Context, args []string) error {
	fs := a.subFlags("attest set", attestUsage)
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("want a MODEL and a rule (required, optional, off or default), e.g. 'lantls admin attest set \"Acme TV\" required'")
	}
	switch pos[1] {
	case "required", "optional", "off", devices.RuleDefault:
	default:
		return usagef("%q is not a rule: want required, optional, off or default", pos[1])
	}
	st, _, err := a.open(ctx, "")
	if err != nil {
		return err
	}
	defer st.Close()
	if err := devices.SetAttestRule(ctx, st, devices.Operator, pos[0], pos[1]); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "devices of model %q: %s\n", pos[0], pos[1])
	return nil
}
