package agent

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/lantls/lantls/deviceapi"
)

// reportStatus queues a report for reportLoop, replacing one not sent
// yet: only the latest matters. It never waits for the network.
func (a *Agent) reportStatus(lastError string, at time.Time) {
	a.mu.Lock()
	a.unreported = &statusReport{LastError: &lastError, At: at.UTC()}
	a.mu.Unlock()
	select {
	case a.reportKick <- struct{}{}:
	default:
	}
}

// reportLoop sends queued reports. Reporting is best effort: a failed
// report is logged, counted (Status.ReportFailures) and retried with
// backoff unless a newer report replaces it; an issuer without the
// endpoint (404, an older issuer) is left alone.
func (a *Agent) reportLoop(ctx context.Context) {
	failures := 0
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.reportKick:
			failures = 0
		case <-retry:
		}
		retry = nil
		a.mu.Lock()
		r := a.unreported
		a.unreported = nil
		a.mu.Unlock()
		if r == nil {
			continue
		}
		if err := a.sendStatus(ctx, r); err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			a.log.Warn("report status to the issuer", "err", err)
			a.updateStatus(ctx, func(s *Status) { s.ReportFailures++ })
			a.mu.Lock()
			if a.unreported == nil {
				a.unreported = r
			}
			a.mu.Unlock()
			retry = time.After(backoff(a.cfg.RetryBase, a.cfg.RetryMax, failures))
		}
	}
}

// sendStatus sends r; an issuer that does not know the endpoint is not an
// error.
func (a *Agent) sendStatus(ctx context.Context, r *statusReport) error {
	body, err := json.Marshal(r)
	if err != nil {
		return err
	}
	resp, err := a.deviceAPI(ctx, http.MethodPut, deviceapi.PathStatus, body, nil)
	var se *statusError
	if errors.As(err, &se) && se.code == http.StatusNotFound {
		a.log.Debug("the issuer takes no status reports", "err", err)
		return nil
	}
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}
