package agent

import (
	"slices"
)

// noteNames makes the renewal loop replace the served certificate at once
// when the extra names it carries (beside the names it ordered) are not
// those the issuer's policy lists: the owner gave the device a short name,
// changed or removed it. It asks once per certificate, so a signer that
// fails to add a name cannot make the device renew in a loop.
func (a *Agent) noteNames(want []string) {
	cur := a.cert.Load()
	creds := a.credentials()
	if cur == nil || cur.Leaf == nil || creds == nil {
		return
	}
	var have []string
	for _, n := range cur.Leaf.DNSNames {
		if !slices.Contains(creds.Names, n) {
			have = append(have, n)
		}
	}
	want = slices.Clone(want)
	slices.Sort(want)
	slices.Sort(have)
	if slices.Equal(want, have) {
		return
	}
	serial := fmtSerial(cur.Leaf)
	if p := a.renamed.Load(); p != nil && *p == serial {
		return
	}
	a.renamed.Store(&serial)
	a.log.Info("the owner changed the device's names; renewing now", "serial", serial, "names", want)
	a.RenewNow()
}
