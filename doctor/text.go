package doctor

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteText writes the report for a person: one line per check, and under
// each failure the one thing to do and its setting on each kind of router.
func (r *Report) WriteText(w io.Writer) error {
	target := r.URL
	if target == "" {
		target = "the issuer"
	}
	fmt.Fprintf(w, "Checking %s from this machine (resolver %s", target, r.Resolver)
	if r.Zone != "" {
		fmt.Fprintf(w, ", zone %s", r.Zone)
	}
	fmt.Fprintln(w, ")")
	for _, c := range r.Checks {
		fmt.Fprintf(w, "%-4s  %-18s %s\n", c.Status, c.Name, c.Detail)
		if c.Status != Fail {
			continue
		}
		fmt.Fprintf(w, "      fix: %s\n", c.Fix)
		if len(c.Settings) == 0 {
			continue
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, s := range c.Settings {
			fmt.Fprintf(tw, "        %s\t%s\n", s.Product, s.Setting)
		}
		tw.Flush()
	}
	if n := r.Failed(); n > 0 {
		_, err := fmt.Fprintf(w, "%d of %d checks failed.\n", n, len(r.Checks))
		return err
	}
	skipped := 0
	for _, c := range r.Checks {
		if c.Status == Skip {
			skipped++
		}
	}
	_, err := fmt.Fprintf(w, "No check failed (%d passed, %d skipped).\n", len(r.Checks)-skipped, skipped)
	return err
}
