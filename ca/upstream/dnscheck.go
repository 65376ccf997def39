package upstream

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/lantls/lantls/store"
)

// dnsWait bounds how long the signer waits for the issuer's DNS server to
// serve new TXT records; it reloads from the store within a second.
const dnsWait = 15 * time.Second

// waitDNS asks the issuer's own DNS server for each record until it
// serves them all: the upstream CA validates against that server (through
// the delegation), so answering a challenge before it serves the record
// would fail the authorization for nothing.
func (s *Signer) waitDNS(ctx context.Context, recs []store.TXT) error {
	if s.cfg.DNSServer == "" || len(recs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, dnsWait)
	defer cancel()
	c := &dns.Client{Timeout: 2 * time.Second}
	for {
		missing, err := s.missingTXT(ctx, c, recs)
		if err == nil && len(missing) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("it does not serve %s yet", strings.Join(missing, ", "))
			}
			return fmt.Errorf("the issuer's DNS server %s: %w", s.cfg.DNSServer, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// missingTXT returns the "name value" of each record the DNS server does
// not serve.
func (s *Signer) missingTXT(ctx context.Context, c *dns.Client, recs []store.TXT) ([]string, error) {
	served := map[string][]string{}
	var missing []string
	for _, r := range recs {
		vals, ok := served[r.Name]
		if !ok {
			m := new(dns.Msg)
			m.SetQuestion(dns.Fqdn(r.Name), dns.TypeTXT)
			m.SetEdns0(4096, false)
			in, _, err := c.ExchangeContext(ctx, m, s.cfg.DNSServer)
			if err != nil {
				return nil, err
			}
			for _, rr := range in.Answer {
				if t, ok := rr.(*dns.TXT); ok {
					vals = append(vals, strings.Join(t.Txt, ""))
				}
			}
			served[r.Name] = vals
		}
		if !slices.Contains(vals, r.Value) {
			missing = append(missing, r.Name+" "+r.Value)
		}
	}
	return missing, nil
}
