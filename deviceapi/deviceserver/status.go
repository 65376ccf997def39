package deviceserver

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/lantls/lantls/deviceapi"
	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
)

// serveStatus serves PUT deviceapi.PathStatus: the calling device reports
// the last failure of its certificate work, or clears it after a success,
// and its name check; its owner sees them on the device's page. It
// answers 204 No Content.
func (s *Server) serveStatus(w http.ResponseWriter, r *http.Request, d *store.Device) error {
	if err := checkJSON(r, "status"); err != nil {
		return err
	}
	body, err := ParseStatusReport(r.Body)
	if err != nil {
		return problem.MalformedErr("%v", err)
	}
	if err := s.putStatus(r, d, body); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) putStatus(r *http.Request, d *store.Device, body *deviceapi.StatusReport) error {
	ctx := r.Context()
	now := s.cfg.Now()
	if c := body.NameCheck; c != nil {
		if !names.OwnedBy(c.Name, d.Label, s.cfg.Zone) {
			return problem.MalformedErr(`"name_check" names %q, which is not below this device's name %s`, c.Name, names.DeviceName(d.Label, s.cfg.Zone))
		}
		nc := store.NameCheck{Result: store.NameCheckResult(c.Result), Name: c.Name, Detail: c.Detail, At: deviceTime(c.At, now)}
		if err := s.cfg.Store.SetDeviceNameCheck(ctx, d.ID, nc); err != nil {
			return fmt.Errorf("store device name check: %w", err)
		}
	}
	if body.LastError == nil {
		return nil
	}
	st := &store.DeviceStatus{DeviceID: d.ID, LastError: *body.LastError, At: deviceTime(body.At, now), UpdatedAt: now}
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		if err := s.takeWrite(ctx, tx, d); err != nil {
			return err
		}
		return tx.SetDeviceStatus(ctx, st)
	})
	if err != nil {
		return fmt.Errorf("store device status: %w", err)
	}
	return nil
}

// deviceTime is a time a device reported, or now for a device without a
// clock, or with one far ahead.
func deviceTime(at, now time.Time) time.Time {
	if at.IsZero() || at.After(now.Add(time.Hour)) {
		return now
	}
	return at
}

// ParseStatusReport reads a deviceapi.StatusReport from at most
// deviceapi.MaxStatusBody bytes of r. The error text comes back as plain
// text on one line: invalid UTF-8 and control characters become spaces,
// and text longer than store.MaxStatusError bytes is cut (at a character
// boundary) and ends with "…".
func ParseStatusReport(r io.Reader) (*deviceapi.StatusReport, error) {
	var body deviceapi.StatusReport
	if err := decodeBody(r, deviceapi.MaxStatusBody, &body, `{"last_error": "...", "at": "2006-01-02T15:04:05Z"}`); err != nil {
		return nil, err
	}
	if body.LastError == nil && body.NameCheck == nil {
		return nil, errors.New(`the body has no "last_error"; send "" after a success`)
	}
	if body.LastError != nil {
		text := cleanError(*body.LastError)
		body.LastError = &text
	}
	if c := body.NameCheck; c != nil {
		switch store.NameCheckResult(c.Result) {
		case store.NameCheckOK, store.NameCheckFiltered, store.NameCheckFailed:
		default:
			return nil, fmt.Errorf(`"name_check" has result %q; want ok, filtered or failed`, c.Result)
		}
		name, err := names.Normalize(c.Name)
		if err != nil || strings.HasPrefix(name, "*.") {
			return nil, fmt.Errorf(`"name_check" has name %q, not one of the device's address-names`, c.Name)
		}
		c.Name, c.Detail = name, cleanError(c.Detail)
	}
	return &body, nil
}

// cleanError makes s one line of valid UTF-8 of at most
// store.MaxStatusError bytes.
func cleanError(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, " "))
	s = strings.TrimSpace(s)
	if len(s) <= store.MaxStatusError {
		return s
	}
	const ellipsis = "…"
	cut := store.MaxStatusError - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}
