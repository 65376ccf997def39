package agent

import (
	"context"
	"time"
)

// hookLoop calls OnCertificate once for every certificate it has not
// accepted yet, including one got before a restart, and retries a failure
// with backoff until it succeeds or a newer certificate arrives.
func (a *Agent) hookLoop(ctx context.Context) {
	if a.cfg.OnCertificate == nil {
		return
	}
	failures := 0
	for {
		cert := a.cert.Load()
		var wait <-chan time.Time
		if cert != nil {
			serial := fmtSerial(cert.Leaf)
			if a.Status().HookSerial != serial {
				if err := a.cfg.OnCertificate(ctx, cert); err != nil {
					if ctx.Err() != nil {
						return
					}
					failures++
					a.failReported(ctx, "certificate hook", err)
					wait = time.After(backoff(a.cfg.RetryBase, a.cfg.RetryMax, failures))
				} else {
					a.updateStatus(ctx, func(s *Status) {
						s.HookSerial = serial
						if failures > 0 {
							s.LastError = ""
						}
					})
					if failures > 0 {
						a.reportStatus("", time.Now())
					}
					failures = 0
					continue
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-a.hookKick:
			failures = 0
		case <-wait:
		}
	}
}

// hookWake tells hookLoop that a new certificate is served.
func (a *Agent) hookWake() {
	select {
	case a.hookKick <- struct{}{}:
	default:
	}
}
