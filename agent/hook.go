package agent

import (
	"context"
	"time"
)

// hookLoop calls OnCertificate once for every certificate it has not
// accepted yet, including one got before a restart, and retries a failure
// with backoff until it succeeds or a newer certificate arrives. A
// certificate accepted before a restart is logged as such, once: the
// decision not to run the hook again.
func (a *Agent) hookLoop(ctx context.Context) {
	if a.cfg.OnCertificate == nil {
		return
	}
	failures := 0
	decided := "" // the serial the hook last ran for, or was logged as done for
	for {
		cert := a.cert.Load()
		var wait <-chan time.Time
		if cert != nil {
			serial := fmtSerial(cert.Leaf)
			switch {
			case a.Status().HookSerial != serial:
				if err := a.cfg.OnCertificate(ctx, cert); err != nil {
					if ctx.Err() != nil {
						return
					}
					failures++
					a.failReported(ctx, "certificate hook", err)
					wait = time.After(backoff(a.cfg.RetryBase, a.cfg.RetryMax, failures))
					break
				}
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
				decided = serial
				continue
			case decided != serial:
				decided = serial
				a.log.Info("certificate hook already ran for this certificate; not running it again", "serial", serial)
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
