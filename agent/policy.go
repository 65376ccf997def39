package agent

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lantls/lantls/deviceapi"
)

// originSet is the owner's origin grants (GET /api/v1/device/policy) as
// last fetched.
type originSet struct {
	origins map[string]bool
	etag    string
}

// policyMaxWait caps the wait between policy fetches: the fetch is also
// how the device learns, within this long, that its owner unpaired it or
// revoked its certificate.
const policyMaxWait = time.Minute

// policyLoop fetches the owner's origin grants at start and again when
// their Cache-Control max-age runs out (at least every 5 s, at most every
// minute), sending the ETag so an unchanged policy costs a 304. A 401
// (the token was revoked, or the device is no longer active) makes it
// check whether the device was unpaired.
func (a *Agent) policyLoop(ctx context.Context) {
	failures := 0
	for {
		wait, err := a.refreshPolicy(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			var se *statusError
			if errors.As(err, &se) && se.code == http.StatusUnauthorized && a.confirmUnpaired(ctx) {
				a.stopPaired(ErrUnpaired)
				return
			}
			failures++
			if failures == 1 {
				a.log.Warn("fetch origin policy", "err", err)
			}
			wait = backoff(a.cfg.RetryBase, a.policyMax, failures)
		} else {
			failures = 0
		}
		if !sleepCtx(ctx, min(wait, a.policyMax)) {
			return
		}
	}
}

func (a *Agent) refreshPolicy(ctx context.Context) (time.Duration, error) {
	cur := a.origins.Load()
	h := http.Header{"Accept": {"application/json"}}
	if cur.etag != "" {
		h.Set("If-None-Match", cur.etag)
	}
	resp, err := a.deviceAPI(ctx, http.MethodGet, deviceapi.PathPolicy, nil, h)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	wait := maxAge(resp.Header.Get("Cache-Control"))
	if resp.StatusCode == http.StatusNotModified {
		return wait, nil
	}
	var p policy
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&p); err != nil {
		return 0, err
	}
	next := &originSet{origins: make(map[string]bool, len(p.Origins)), etag: resp.Header.Get("ETag")}
	for _, o := range p.Origins {
		next.origins[strings.ToLower(o)] = true
	}
	if cur.etag == "" || !maps.Equal(cur.origins, next.origins) {
		a.log.Info("origin policy", "origins", strings.Join(p.Origins, " "))
	}
	a.origins.Store(next)
	a.noteRevoked(p.Revoked)
	a.noteNames(p.Names)
	return wait, nil
}

// noteRevoked makes the renewal loop replace the served certificate at
// once when its serial is among those the issuer says are revoked (the
// owner's "Revoke certificates"): it should not wait for ARI's next
// answer, hours away.
func (a *Agent) noteRevoked(serials []string) {
	cur := a.cert.Load()
	if cur == nil || cur.Leaf == nil {
		return
	}
	serial := fmtSerial(cur.Leaf)
	if !slices.Contains(serials, serial) {
		return
	}
	if p := a.revoked.Load(); p != nil && *p == serial {
		return
	}
	a.revoked.Store(&serial)
	a.log.Warn("the certificate being served was revoked; replacing it now", "serial", serial)
	a.RenewNow()
}

// isRevoked reports whether the issuer said cert is revoked.
func (a *Agent) isRevoked(cert *tls.Certificate) bool {
	p := a.revoked.Load()
	return p != nil && cert != nil && cert.Leaf != nil && *p == fmtSerial(cert.Leaf)
}

// OriginGranted reports whether the owner granted origin (scheme://host
// [:port], compared case-insensitively) access to the device.
func (a *Agent) OriginGranted(origin string) bool {
	return a.origins.Load().origins[strings.ToLower(origin)]
}

// maxAge is the refresh delay a Cache-Control header asks for, within
// [5s, policyMaxWait]; 60 s without one.
func maxAge(cc string) time.Duration {
	d := time.Minute
	for _, part := range strings.Split(cc, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		if strings.EqualFold(k, "max-age") {
			if n, err := strconv.Atoi(v); err == nil {
				d = time.Duration(n) * time.Second
			}
		}
	}
	return min(max(d, 5*time.Second), policyMaxWait)
}
