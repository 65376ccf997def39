package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"github.com/miekg/dns"

	"github.com/lantls/lantls/deviceapi"
	"github.com/lantls/lantls/names"
)

// NameCheckSystem is the Config.NameCheck value that asks the first
// nameserver of /etc/resolv.conf, as the device's own programs do.
const NameCheckSystem = "system"

// How often the name check runs again: soon while the names do not
// resolve (the owner may be fixing the router), rarely once they do, and
// in short steps while the device has no certificate or address yet.
const (
	nameCheckFailing = 10 * time.Minute
	nameCheckPassing = 6 * time.Hour
	nameCheckWaiting = 2 * time.Second
	nameCheckTimeout = 5 * time.Second
)

// nameCheck (deviceapi.NameCheckReport, wire.go) is the outcome of one
// check: "ok", "filtered" (an answer without the address: a DNS-rebind
// filter) or "failed".

// nameCheckLoop checks, once the device serves a certificate and has
// reported an address, that one of its address-names resolves through the
// resolver of Config.NameCheck, and reports the outcome to the issuer
// when it changes: a home router's DNS-rebind filter, which drops answers
// that point names at private addresses, otherwise breaks every link to
// the device without a word. Best effort: a failed report is tried again
// at the next check.
func (a *Agent) nameCheckLoop(ctx context.Context) {
	if a.cfg.NameCheck == "" {
		return
	}
	select {
	case <-ctx.Done():
		return
	case <-a.ready:
	}
	var reported string // result and name of the last report that arrived
	for {
		wait := nameCheckWaiting
		if c, ok := a.checkName(ctx); ok {
			wait = nameCheckPassing
			if c.Result != "ok" {
				wait = nameCheckFailing
				a.log.Warn("this device's names do not resolve through its resolver: browsers on its network cannot open it by name",
					"name", c.Name, "result", c.Result, "detail", c.Detail)
			}
			if key := c.Result + " " + c.Name; key != reported {
				if err := a.sendNameCheck(ctx, c); err != nil {
					a.log.Warn("report the name check to the issuer", "err", err)
				} else {
					reported = key
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// checkName resolves an address-name of the device; ok is false while the
// device has reported no address.
func (a *Agent) checkName(ctx context.Context) (c nameCheck, ok bool) {
	creds := a.credentials()
	addr, found := checkAddress(a.Status().Addresses)
	if creds == nil || !found {
		return c, false
	}
	c.Name, c.At = names.AddressName(addr, creds.Label, creds.Zone), time.Now().UTC()
	server, err := a.nameCheckServer()
	if err != nil {
		c.Result, c.Detail = "failed", err.Error()
		return c, true
	}
	qtype := dns.TypeA
	if addr.Is6() {
		qtype = dns.TypeAAAA
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(c.Name), qtype)
	ctx, cancel := context.WithTimeout(ctx, nameCheckTimeout)
	defer cancel()
	client := &dns.Client{Timeout: nameCheckTimeout}
	resp, _, err := client.ExchangeContext(ctx, m, server)
	if err == nil && resp.Truncated {
		client.Net = "tcp"
		resp, _, err = client.ExchangeContext(ctx, m, server)
	}
	switch {
	case err != nil:
		c.Result, c.Detail = "failed", fmt.Sprintf("the resolver %s did not answer: %v", server, err)
	case slices.ContainsFunc(resp.Answer, func(rr dns.RR) bool { return answers(rr, addr) }):
		c.Result = "ok"
	case resp.Rcode == dns.RcodeSuccess:
		c.Result, c.Detail = "filtered", fmt.Sprintf("the resolver %s answered with no address", server)
	default:
		c.Result, c.Detail = "failed", fmt.Sprintf("the resolver %s answered %s", server, dns.RcodeToString[resp.Rcode])
	}
	return c, true
}

// checkAddress picks the reported address whose name to check: one a
// router would filter, so not loopback where there is another.
func checkAddress(reported []string) (netip.Addr, bool) {
	var found netip.Addr
	for _, s := range reported {
		a, err := netip.ParseAddr(s)
		if err != nil {
			continue
		}
		if !a.IsLoopback() && !a.IsLinkLocalUnicast() {
			return a, true
		}
		if !found.IsValid() {
			found = a
		}
	}
	return found, found.IsValid()
}

func answers(rr dns.RR, addr netip.Addr) bool {
	var ip net.IP
	switch rr := rr.(type) {
	case *dns.A:
		ip = rr.A
	case *dns.AAAA:
		ip = rr.AAAA
	}
	got, ok := netip.AddrFromSlice(ip)
	return ok && got.Unmap() == addr
}

// nameCheckServer is the host:port of the resolver to ask.
func (a *Agent) nameCheckServer() (string, error) {
	if a.cfg.NameCheck != NameCheckSystem {
		return a.cfg.NameCheck, nil
	}
	cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil {
		return "", fmt.Errorf("read the system's resolver: %w", err)
	}
	if len(cc.Servers) == 0 {
		return "", errors.New("/etc/resolv.conf names no nameserver")
	}
	return net.JoinHostPort(cc.Servers[0], cc.Port), nil
}

// sendNameCheck reports c (PUT /api/v1/device/status); an issuer without
// the field or the endpoint is not an error.
func (a *Agent) sendNameCheck(ctx context.Context, c nameCheck) error {
	body, err := json.Marshal(&statusReport{NameCheck: &c})
	if err != nil {
		return err
	}
	resp, err := a.deviceAPI(ctx, http.MethodPut, deviceapi.PathStatus, body, nil)
	var se *statusError
	if errors.As(err, &se) && (se.code == http.StatusNotFound || se.code == http.StatusBadRequest) {
		a.log.Debug("the issuer takes no name checks", "err", err)
		return nil
	}
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}
