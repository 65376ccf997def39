package issuer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/lantls/lantls/deviceapi"
	"github.com/lantls/lantls/internal/jsonkeys"
	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/pairing"
	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
)

// ParseStatusReport reads a deviceapi.StatusReport from at most
// deviceapi.MaxStatusBody bytes
// of r. The error text comes back as plain text on one line: invalid
// UTF-8 and control characters become spaces, and text longer than
// store.MaxStatusError bytes is cut (at a character boundary) and ends
// with "…".
func ParseStatusReport(r io.Reader) (*deviceapi.StatusReport, error) {
	var body deviceapi.StatusReport
	raw, err := io.ReadAll(io.LimitReader(r, deviceapi.MaxStatusBody))
	if err != nil {
		return nil, fmt.Errorf("cannot read the body: %v", err)
	}
	if k, dup := jsonkeys.Duplicate(raw); dup {
		return nil, fmt.Errorf("the body has %q twice", k)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return nil, fmt.Errorf(`the body is not {"last_error": "...", "at": "2006-01-02T15:04:05Z"}: %v`, err)
	}
	if dec.More() {
		return nil, errors.New("the body has more than one JSON value")
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

// serveStatus serves PUT /api/v1/device/status: the calling device (by its
// bearer token) reports the last failure of its certificate work, or
// clears it after a success; its owner sees it as the device's last
// error. It answers 204 No Content.
func (iss *Issuer) serveStatus(w http.ResponseWriter, r *http.Request) {
	if err := iss.putStatus(r); err != nil {
		if p := problem.OrInternal(err); p.Kind == problem.ServerInternal {
			iss.cfg.Logger.ErrorContext(r.Context(), "device status", "err", err)
		}
		pairing.WriteProblem(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

func (iss *Issuer) putStatus(r *http.Request) error {
	d, err := iss.pairing.Authenticate(r)
	if err != nil {
		return err
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "" && ct != "application/json" {
		return problem.MalformedErr("send the status as application/json, not %s", ct)
	}
	body, err := ParseStatusReport(r.Body)
	if err != nil {
		return problem.MalformedErr("%v", err)
	}
	now := iss.cfg.Now()
	at := body.At
	// A device without a clock, or with one far ahead, gets the issuer's.
	if at.IsZero() || at.After(now.Add(time.Hour)) {
		at = now
	}
	if c := body.NameCheck; c != nil {
		if !names.OwnedBy(c.Name, d.Label, iss.cfg.Zone) {
			return problem.MalformedErr(`"name_check" names %q, which is not below this device's name %s`, c.Name, names.DeviceName(d.Label, iss.cfg.Zone))
		}
		checked := c.At
		if checked.IsZero() || checked.After(now.Add(time.Hour)) {
			checked = now
		}
		nc := store.NameCheck{Result: store.NameCheckResult(c.Result), Name: c.Name, Detail: c.Detail, At: checked}
		if err := iss.store.SetDeviceNameCheck(r.Context(), d.ID, nc); err != nil {
			return fmt.Errorf("store device name check: %w", err)
		}
	}
	if body.LastError == nil {
		return nil
	}
	s := &store.DeviceStatus{DeviceID: d.ID, LastError: *body.LastError, At: at, UpdatedAt: now}
	ctx := r.Context()
	err = iss.store.Update(ctx, func(tx store.Tx) error {
		if err := iss.cfg.Limits.DeviceWritesPerDevice.Take(ctx, tx, d.ID, now); err != nil {
			return err
		}
		return tx.SetDeviceStatus(ctx, s)
	})
	if problem.Is(err, problem.RateLimited) {
		return err
	}
	if err != nil {
		return fmt.Errorf("store device status: %w", err)
	}
	return nil
}
