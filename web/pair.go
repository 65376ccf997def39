package web

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/pairing"
	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/ratelimit"
	"github.com/lantls/lantls/store"
)

type codePage struct {
	Code  string
	Error string
}

// serveCodeEntry is the verification URI of RFC 8628: the owner types the
// code the device shows, or arrives with it prefilled from
// verification_uri_complete. Either way nothing is decided until the owner
// has seen the device and pressed a button.
func (s *Server) serveCodeEntry(w http.ResponseWriter, r *http.Request, v *viewer) error {
	if s.cfg.Pairing == nil {
		return errNotFound
	}
	s.render(w, r, v, http.StatusOK, "code", "Pair a device", &codePage{Code: userCodeField(r.URL.Query().Get(pairing.UserCodeParam))})
	return nil
}

type approvePage struct {
	Code     string
	Pairing  *store.Pairing
	Owner    string
	Minutes  int
	Fallback string // the code as the device shows it
	// Browser is the approver's address as the issuer sees it; Network
	// compares it with the address the device's request came from.
	Browser string
	Network network
}

// network is how the address a pairing request came from relates to the
// approver's browser's.
type network int

const (
	sameNetwork    network = iota
	otherNetwork           // the warning of RFC 10027: maybe not the device in front of you
	unknownNetwork         // one over IPv4, the other over IPv6: nothing to compare
)

// Other and Unknown are for the template.
func (n network) Other() bool   { return n == otherNetwork }
func (n network) Unknown() bool { return n == unknownNetwork }

// compareNetworks says whether a device's pairing request and the
// approver's browser came from one network: both from loopback, or from
// one IPv4 /24 or IPv6 /64. Sources are ratelimit.SourceKey values, an
// address or, for IPv6, its /64. A device the owner is not near (a code
// sent by a phisher; RFC 10027 on cross-device flows) usually asks from
// elsewhere; a household behind one NAT shows the issuer one address.
func compareNetworks(device, browser string) network {
	d, err1 := sourcePrefix(device)
	b, err2 := sourcePrefix(browser)
	switch {
	case err1 != nil || err2 != nil:
		return unknownNetwork
	case d.Addr().IsLoopback() && b.Addr().IsLoopback():
		return sameNetwork
	case d.Addr().Is4() != b.Addr().Is4():
		return unknownNetwork
	case d.Overlaps(b):
		return sameNetwork
	}
	return otherNetwork
}

// sourcePrefix is the network of a source key: its /24 or /64.
func sourcePrefix(src string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(src)
	if err != nil {
		a, aerr := netip.ParseAddr(src)
		if aerr != nil {
			return netip.Prefix{}, aerr
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	bits := 64
	if p.Addr().Unmap().Is4() {
		p, bits = netip.PrefixFrom(p.Addr().Unmap(), min(p.Bits(), 32)), 24
	}
	return p.Addr().Prefix(min(bits, p.Bits()))
}

// postCodeEntry looks the code up and shows what asked to pair.
func (s *Server) postCodeEntry(w http.ResponseWriter, r *http.Request, v *viewer) error {
	if s.cfg.Pairing == nil {
		return errNotFound
	}
	code := userCodeField(r.PostForm.Get("user_code"))
	p, err := s.cfg.Pairing.Lookup(pairing.WithRequester(r.Context(), r.RemoteAddr, v.user.ID), code)
	if err != nil {
		return s.codeError(w, r, v, code, err)
	}
	browser := ratelimit.SourceKey(r.RemoteAddr)
	s.render(w, r, v, http.StatusOK, "approve", "Approve this device?", &approvePage{
		Code:     pairing.FormatUserCode(p.UserCode),
		Pairing:  p,
		Owner:    v.owner.Name,
		Minutes:  max(1, int(p.Expires.Sub(s.cfg.Now()).Minutes()+0.5)),
		Fallback: pairing.FormatUserCode(p.UserCode),
		Browser:  browser,
		Network:  compareNetworks(p.Source, browser),
	})
	return nil
}

func (s *Server) postApprove(w http.ResponseWriter, r *http.Request, v *viewer) error {
	if s.cfg.Pairing == nil {
		return errNotFound
	}
	code := userCodeField(r.PostForm.Get("user_code"))
	ctx := pairing.WithRequester(r.Context(), r.RemoteAddr, v.user.ID)
	if err := s.cfg.Pairing.Approve(ctx, code, v.user.OwnerID, v.user.Name); err != nil {
		return s.codeError(w, r, v, code, err)
	}
	http.Redirect(w, r, "/?msg=approved", http.StatusSeeOther)
	return nil
}

func (s *Server) postDeny(w http.ResponseWriter, r *http.Request, v *viewer) error {
	if s.cfg.Pairing == nil {
		return errNotFound
	}
	code := userCodeField(r.PostForm.Get("user_code"))
	ctx := pairing.WithRequester(r.Context(), r.RemoteAddr, v.user.ID)
	if err := s.cfg.Pairing.DenyFor(ctx, code, v.user.OwnerID, v.user.Name); err != nil {
		return s.codeError(w, r, v, code, err)
	}
	http.Redirect(w, r, "/?msg=denied", http.StatusSeeOther)
	return nil
}

// codeError shows the code entry page again with what went wrong.
func (s *Server) codeError(w http.ResponseWriter, r *http.Request, v *viewer, code string, err error) error {
	status, msg := http.StatusBadRequest, ""
	var p *problem.Error
	switch {
	case errors.Is(err, pairing.ErrNoCode), errors.Is(err, pairing.ErrExpired),
		errors.Is(err, pairing.ErrDecided), errors.Is(err, pairing.ErrPaired):
		for _, e := range []error{pairing.ErrNoCode, pairing.ErrExpired, pairing.ErrDecided, pairing.ErrPaired} {
			if errors.Is(err, e) {
				msg = sentence(e.Error())
			}
		}
	case errors.Is(err, devices.ErrTooManyDevices):
		status, msg = http.StatusConflict, "You have as many devices as this issuer allows one owner. Unpair one you no longer use first."
	case errors.As(err, &p) && p.Kind == problem.RateLimited:
		status, msg = http.StatusTooManyRequests, "Too many wrong codes. Try again in "+p.RetryAfter.Round(1e9).String()+"."
	default:
		return err
	}
	s.render(w, r, v, status, "code", "Pair a device", &codePage{Code: code, Error: msg})
	return nil
}

// userCodeField bounds what a code field carries back into the page; the
// pairing package normalizes and checks it.
func userCodeField(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 32 {
		s = s[:32]
	}
	return s
}

// sentence capitalizes msg and ends it with a full stop.
func sentence(msg string) string {
	if msg == "" {
		return msg
	}
	return strings.ToUpper(msg[:1]) + msg[1:] + "."
}

// Code is the pairing code a login leads on to, when the visitor came
// from a device's link (verification_uri_complete), for the login page to
// say what logging in is for.
func (p *loginPage) Code() string {
	u, err := url.Parse(p.Next)
	if err != nil || u.Path != "/device" {
		return ""
	}
	return userCodeField(u.Query().Get(pairing.UserCodeParam))
}
