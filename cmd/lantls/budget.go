package main

import (
	"context"
	"fmt"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/lantls/lantls/ca/upstream"
	"github.com/lantls/lantls/store"
)

// budget runs 'lantls admin budget': who used the upstream signer's
// budget of new certificates, the domain's and each owner's share.
func (a *admin) budget(ctx context.Context, args []string) error {
	fs := a.subFlags("budget", "lantls admin budget [--limit-upstream-certificates-per-domain C/P] [--limit-upstream-certificates-per-owner C/P] [--upstream-registered-domain D]")
	limits := upstream.DefaultLimits
	fs.Var(&limits.CertificatesPerDomain, "limit-"+limits.CertificatesPerDomain.Name, "the issuer's `COUNT/PERIOD` of new upstream certificates per registered domain, if not the default")
	fs.Var(&limits.CertificatesPerOwner, "limit-"+limits.CertificatesPerOwner.Name, "the issuer's `COUNT/PERIOD` share of one owner, if not the default")
	fs.StringVar(&limits.RegisteredDomain, "upstream-registered-domain", "", "the issuer's --upstream-registered-domain `domain`, if set (default: the zone)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	st, info, err := a.open(ctx, "")
	if err != nil {
		return err
	}
	defer st.Close()
	if limits.RegisteredDomain == "" {
		limits.RegisteredDomain = info.Zone
	}
	now := time.Now()
	dom := limits.CertificatesPerDomain
	used, free, err := dom.Used(ctx, st, limits.RegisteredDomain, now)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "New upstream certificates (ARI renewals are not counted), limit %s:\n", dom)
	fmt.Fprintf(a.stdout, "  domain %s: %d used%s\n", limits.RegisteredDomain, used, freeAt(used, dom.Count, free))
	share := limits.CertificatesPerOwner
	if !share.Enabled() {
		fmt.Fprintln(a.stdout, "Owners have no share of their own (--limit-upstream-certificates-per-owner off).")
		return nil
	}
	ds, err := st.ListDevices(ctx, store.DeviceFilter{})
	if err != nil {
		return err
	}
	var owners []string
	for _, d := range ds {
		if !slices.Contains(owners, d.OwnerID) {
			owners = append(owners, d.OwnerID)
		}
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "OWNER\tUSED OF %s\t\n", share)
	shown := 0
	for _, id := range owners {
		used, free, err := share.Used(ctx, st, id, now)
		if err != nil {
			return err
		}
		if used == 0 {
			continue
		}
		o, err := st.GetOwner(ctx, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\n", o.Name, used, freeAt(used, share.Count, free))
		shown++
	}
	if shown == 0 {
		fmt.Fprintln(a.stdout, "No owner has used any of its share.")
		return nil
	}
	return tw.Flush()
}

// freeAt says when a spent budget allows again.
func freeAt(used, count int, free time.Time) string {
	if used < count {
		return ""
	}
	return " (all used; the next at " + free.Local().Format(time.DateTime) + ")"
}
