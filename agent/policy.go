package agent

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// originSet is the owner's origin grants (GET /api/v1/device/policy) as
// last fetched.
type originSet struct {
	origins map[string]bool
	etag    string
}

// policy is the JSON body of GET /api/v1/device/policy.
type policy struct {
	Origins []string `json:"origins"`
}

// policyLoop fetches the owner's origin grants at start and again when
// their Cache-Control max-age runs out (at least every 5 s, at most every
// 5 min), sending the ETag so an unchanged policy costs a 304.
func (a *Agent) policyLoop(ctx context.Context) {
	failures := 0
	for {
		wait, err := a.refreshPolicy(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			if failures == 1 {
				a.log.Warn("fetch origin policy", "err", err)
			}
			wait = backoff(a.cfg.RetryBase, 5*time.Minute, failures)
		} else {
			failures = 0
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (a *Agent) refreshPolicy(ctx context.Context) (time.Duration, error) {
	cur := a.origins.Load()
	h := http.Header{"Accept": {"application/json"}}
	if cur.etag != "" {
		h.Set("If-None-Match", cur.etag)
	}
	resp, err := a.deviceAPI(ctx, http.MethodGet, "/api/v1/device/policy", nil, h)
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
	a.origins.Store(next)
	a.log.Info("origin policy", "origins", strings.Join(p.Origins, " "))
	return wait, nil
}

// OriginGranted reports whether the owner granted origin (scheme://host
// [:port], compared case-insensitively) access to the device.
func (a *Agent) OriginGranted(origin string) bool {
	return a.origins.Load().origins[strings.ToLower(origin)]
}

// maxAge is the refresh delay a Cache-Control header asks for, within
// [5s, 5min]; 60 s without one.
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
	return min(max(d, 5*time.Second), 5*time.Minute)
}
