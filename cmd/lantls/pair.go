package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/lantls/lantls/issuer"
	"github.com/lantls/lantls/pairing"
	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
)

// runPair runs 'lantls admin pair ...'.
func (a *admin) runPair(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("'pair' needs a command: list, approve or deny; run 'lantls admin --help'")
	}
	switch args[0] {
	case "list":
		return a.pairList(ctx, args[1:])
	case "approve":
		return a.pairApprove(ctx, args[1:])
	case "deny":
		return a.pairDeny(ctx, args[1:])
	}
	return usagef("unknown pair command %q: use list, approve or deny", args[0])
}

// pairingJSON is one line of 'pair list --json'.
type pairingJSON struct {
	UserCode string `json:"user_code"`
	Status   string `json:"status"`
	Model    string `json:"model"`
	Hostname string `json:"hostname"`
	Source   string `json:"source"`
	// Label is the key fingerprint the owner compares with the device's:
	// names.Label of its account key.
	Label   string `json:"label"`
	Owner   string `json:"owner,omitempty"`
	Actor   string `json:"actor,omitempty"`
	Created string `json:"created"`
	Expires string `json:"expires"`
}

func (a *admin) pairList(ctx context.Context, args []string) error {
	fs := a.subFlags("pair list", "lantls admin pair list [--json]\n\nLists pending and recent pairings (RFC 8628), newest last.")
	asJSON := fs.Bool("json", false, "print one JSON object per pairing per line")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	st, svc, err := a.openPairing(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	ps, err := svc.List(ctx, "")
	if err != nil {
		return err
	}
	owners := map[string]string{"": ""}
	now := time.Now()
	enc := json.NewEncoder(a.stdout)
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	if !*asJSON {
		fmt.Fprintln(tw, "USER_CODE\tSTATUS\tMODEL\tHOSTNAME\tSOURCE\tKEY\tOWNER\tCREATED\tEXPIRES")
	}
	for _, p := range ps {
		if _, ok := owners[p.OwnerID]; !ok {
			o, err := st.GetOwner(ctx, p.OwnerID)
			if err != nil {
				return fmt.Errorf("list pairings: owner of %s: %w", pairing.FormatUserCode(p.UserCode), err)
			}
			owners[p.OwnerID] = o.Name
		}
		j := &pairingJSON{
			UserCode: pairing.FormatUserCode(p.UserCode), Status: pairingStatus(p, now), Model: p.Model,
			Hostname: p.Hostname, Source: p.Source, Label: p.Label, Owner: owners[p.OwnerID], Actor: p.Actor,
			Created: p.CreatedAt.Format(time.RFC3339), Expires: p.Expires.Format(time.RFC3339),
		}
		if *asJSON {
			if err := enc.Encode(j); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", j.UserCode, j.Status, orDash(j.Model), orDash(j.Hostname),
			j.Source, j.Label, orDash(j.Owner), p.CreatedAt.Local().Format(time.DateTime), p.Expires.Local().Format(time.DateTime))
	}
	if !*asJSON {
		tw.Flush()
		if len(ps) == 0 {
			fmt.Fprintln(a.stdout, "(no pairings: a device starts one with POST /pair/device_authorization, e.g. 'lantls agent')")
		}
	}
	return nil
}

// pairingStatus is a pairing's status as a person reads it: a pending one
// past its expiry is expired.
func pairingStatus(p *store.Pairing, now time.Time) string {
	if p.Expired(now) {
		return "expired"
	}
	return string(p.Status)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (a *admin) pairApprove(ctx context.Context, args []string) error {
	fs := a.subFlags("pair approve", "lantls admin pair approve USER_CODE --owner NAME [--new-owner]\n\n"+
		"Approves the pairing whose code a device shows (WDJB-MJHT, any case, dash optional)\n"+
		"for the owner NAME, who must exist unless --new-owner. Check the model, hostname\n"+
		"and key with 'lantls admin pair list' first.")
	owner := fs.String("owner", "", "the `name` of the owner the device will belong to")
	newOwner := fs.Bool("new-owner", false, "create the owner if there is none of that name (without it, a misspelt name is an error, not a new owner)")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one USER_CODE, e.g. 'lantls admin pair approve WDJB-MJHT --owner alice'")
	}
	if *owner == "" {
		return usagef("--owner is required: the owner the device will belong to, e.g. --owner alice")
	}
	st, svc, err := a.openPairing(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx = pairing.WithRequester(ctx, "cli", "cli")
	p, err := svc.Lookup(ctx, pos[0])
	if err != nil {
		return pairError(err)
	}
	o, err := st.GetOwnerByName(ctx, *owner)
	if errors.Is(err, store.ErrNotFound) && *newOwner {
		o, err = st.EnsureOwner(ctx, *owner)
	} else if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no owner named %q: check the spelling ('lantls admin device list' shows the owners of devices), or pass --new-owner to create it", *owner)
	}
	if err != nil {
		return fmt.Errorf("owner %q: %w", *owner, err)
	}
	if err := svc.Approve(ctx, pos[0], o.ID, "cli"); err != nil {
		return pairError(err)
	}
	fmt.Fprintf(a.stdout, "approved %s: device %q (model %s, key %s) now belongs to owner %q; it collects its credentials at its next poll\n",
		pairing.FormatUserCode(p.UserCode), p.Hostname, orDash(p.Model), p.Label, o.Name)
	return nil
}

func (a *admin) pairDeny(ctx context.Context, args []string) error {
	fs := a.subFlags("pair deny", "lantls admin pair deny USER_CODE\n\nDenies the pairing whose code a device shows; its next poll gets access_denied.")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one USER_CODE, e.g. 'lantls admin pair deny WDJB-MJHT'")
	}
	st, svc, err := a.openPairing(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx = pairing.WithRequester(ctx, "cli", "cli")
	if err := svc.Deny(ctx, pos[0], "cli"); err != nil {
		return pairError(err)
	}
	fmt.Fprintf(a.stdout, "denied %s\n", pos[0])
	return nil
}

// pairError adds what to do to the pairing service's errors.
func pairError(err error) error {
	switch {
	case errors.Is(err, pairing.ErrNoCode):
		return errors.New("no pending pairing has this code: check it on the device, or see 'lantls admin pair list'")
	case problem.Is(err, problem.RateLimited):
		return fmt.Errorf("%v (too many wrong codes; wait, or raise --limit-failed-codes-per-user on the issuer)", err)
	}
	return err
}

// openPairing opens the store and a pairing service on it, with the zone
// and base URL the issuer recorded.
func (a *admin) openPairing(ctx context.Context) (store.Store, *pairing.Service, error) {
	st, info, err := a.open(ctx, "")
	if err != nil {
		return nil, nil, err
	}
	base := info.BaseURL
	if base == "" {
		base = "https://" + issuer.Defaults.Listen
	}
	svc, err := pairing.New(pairing.Config{Store: st, Zone: info.Zone, BaseURL: base, Limits: issuer.Defaults.Limits})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, svc, nil
}
