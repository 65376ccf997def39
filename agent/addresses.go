package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lantls/lantls/deviceapi"
	"github.com/lantls/lantls/names"
)

// DefaultRanges are the address ranges the issuer answers address-names
// for by default (names.LocalRanges), and so the ones worth reporting.
var DefaultRanges = names.LocalRanges()

// addressLoop reports the device's addresses at start and again within a
// second of any change.
func (a *Agent) addressLoop(ctx context.Context) {
	changed := make(chan struct{}, 1)
	if a.cfg.Addresses == nil {
		go watchAddresses(ctx, changed, a.log)
	} else {
		go poll(ctx, changed) // a caller's list: ask it twice a second
	}
	var reported []string
	failures := 0
	for {
		addrs, err := a.addresses()
		if err != nil {
			a.log.Warn("list addresses", "err", err)
		} else if !slices.Equal(addrs, reported) {
			var se *statusError
			if err := a.reportAddresses(ctx, addrs); errors.As(err, &se) && se.code == http.StatusNotFound {
				// An issuer without the address API (no DNS): nothing to
				// fix on the device, so not a failure; ask again later.
				if failures == 0 {
					a.log.Info("the issuer does not take address reports", "err", err)
				}
				failures = max(failures, 10)
			} else if err != nil {
				if ctx.Err() != nil {
					return
				}
				failures++
				a.fail(ctx, "report addresses", err)
			} else {
				failures = 0
				reported = addrs
				a.updateStatus(ctx, func(s *Status) { s.Addresses = addrs })
				a.log.Info("reported addresses", "addresses", strings.Join(addrs, " "))
			}
		}
		var retry <-chan time.Time
		if failures > 0 {
			retry = time.After(backoff(a.cfg.RetryBase, a.cfg.RetryMax, failures))
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-retry:
		}
	}
}

// addresses lists the device's addresses in the allowed ranges, sorted,
// without zones.
func (a *Agent) addresses() ([]string, error) {
	list := a.cfg.Addresses
	if list == nil {
		list = hostAddresses
	}
	addrs, err := list()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, ip := range addrs {
		ip = ip.Unmap().WithZone("")
		for _, p := range a.cfg.AllowedRanges {
			if p.Contains(ip) {
				out = append(out, ip.String())
				break
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// hostAddresses lists the addresses of the host's interfaces that are up.
func hostAddresses() ([]netip.Addr, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		as, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, addr := range as {
			if n, ok := addr.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok {
					out = append(out, ip)
				}
			}
		}
	}
	return out, nil
}

// reportAddresses sends addrs to the issuer (PUT /api/v1/device/addresses).
func (a *Agent) reportAddresses(ctx context.Context, addrs []string) error {
	if addrs == nil {
		addrs = []string{}
	}
	// The port the device's HTTPS server listens on (SetHTTPSPort), for
	// the owner's links; none means 443.
	a.mu.Lock()
	port, _ := strconv.Atoi(a.status.HTTPSPort)
	a.mu.Unlock()
	body, _ := json.Marshal(addressReport{Addresses: addrs, Port: port})
	resp, err := a.deviceAPI(ctx, http.MethodPut, deviceapi.PathAddresses, body, nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// deviceAPI makes a request to the issuer's device API with the pairing's
// bearer token; any status but 2xx and 304 is an error naming it.
func (a *Agent) deviceAPI(ctx context.Context, method, path string, body []byte, header http.Header) (*http.Response, error) {
	creds := a.credentials()
	req, err := http.NewRequestWithContext(ctx, method, creds.Issuer+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+creds.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.httpc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusNotModified {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
		return nil, newStatusError(resp, method+" "+path, msg)
	}
	return resp, nil
}

// statusError is an HTTP error answer of the issuer.
type statusError struct {
	code       int
	msg        string
	retryAfter time.Duration // from Retry-After, 0 without one
}

func (e *statusError) Error() string { return e.msg }

// newStatusError describes resp, an error answer to what, with the start
// of its body.
func newStatusError(resp *http.Response, what string, body []byte) *statusError {
	e := &statusError{code: resp.StatusCode, msg: fmt.Sprintf("%s: %s: %s", what, resp.Status, strings.TrimSpace(string(body)))}
	if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && n > 0 {
		e.retryAfter = time.Duration(n) * time.Second
	}
	return e
}
