package deviceserver_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/lantls/lantls/deviceapi"
	"github.com/lantls/lantls/deviceapi/deviceserver"
	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
)

func TestStatus(t *testing.T) {
	h := newHarness(t, deviceserver.Config{})
	d, token := h.device(t, "alice")
	status := func() *store.DeviceStatus {
		t.Helper()
		s, err := h.store.GetDeviceStatus(t.Context(), d.ID)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	resp, body := h.do(t, "PUT", deviceapi.PathStatus, token, `{"last_error": "order failed: <b>rate limited</b>\n", "at": "2026-12-07T01:02:03Z"}`)
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("PUT status: %s %s", resp.Status, body)
	}
	s := status()
	if s.LastError != "order failed: <b>rate limited</b>" || !s.At.Equal(time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC)) || s.UpdatedAt.IsZero() {
		t.Errorf("stored %+v, want the text on one line, as sent, and its time", s)
	}

	// Long text is cut; a time far ahead becomes the issuer's.
	resp, body = h.do(t, "PUT", deviceapi.PathStatus, token, `{"last_error": "`+strings.Repeat("é", 2000)+`", "at": "2099-01-01T00:00:00Z"}`)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PUT long status: %s %s", resp.Status, body)
	}
	if s := status(); len(s.LastError) > store.MaxStatusError || !utf8.ValidString(s.LastError) || s.At.Year() == 2099 {
		t.Errorf("long report stored as %d bytes (valid UTF-8 %v) at %v", len(s.LastError), utf8.ValidString(s.LastError), s.At)
	}

	// Bad bodies: 400 problems, nothing changed.
	for _, bad := range []string{`{}`, `{"at": "2026-12-07T01:02:03Z"}`, `{"last_error": 1}`, `{"last_error": "x", "at": "yesterday"}`,
		`{"last_error": "x", "other": 1}`, `{"last_error": "x"} {}`, `{"last_error": "x", "last_error": "y"}`,
		`{"last_error": "` + strings.Repeat("x", deviceapi.MaxStatusBody) + `"}`} {
		resp, body := h.do(t, "PUT", deviceapi.PathStatus, token, bad)
		wantProblem(t, "body "+bad[:min(len(bad), 40)], resp, body, http.StatusBadRequest, problem.Malformed)
	}
	resp, body = h.do(t, "PUT", deviceapi.PathStatus, token, `{"last_error": "x"}`, "Content-Type", "text/plain")
	wantProblem(t, "text/plain", resp, body, http.StatusBadRequest, problem.Malformed)
	if s := status(); !strings.HasPrefix(s.LastError, "éé") {
		t.Errorf("a refused report changed the status: %.40q", s.LastError)
	}

	// An empty error clears it.
	if resp, body := h.do(t, "PUT", deviceapi.PathStatus, token, `{"last_error": ""}`); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("clear: %s %s", resp.Status, body)
	}
	if s := status(); s.LastError != "" || s.At.IsZero() {
		t.Errorf("after a clear: %+v, want no error and the time of the success", s)
	}
}

// TestStatusLimited: status reports count against the device's writes.
func TestStatusLimited(t *testing.T) {
	h := newHarness(t, deviceserver.Config{Limits: writesPerHour(1)})
	_, token := h.device(t, "alice")
	if resp, body := h.do(t, "PUT", deviceapi.PathStatus, token, `{"last_error": ""}`); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("first report: %s %s", resp.Status, body)
	}
	resp, body := h.do(t, "PUT", deviceapi.PathStatus, token, `{"last_error": "x"}`)
	wantProblem(t, "a report past the limit", resp, body, http.StatusTooManyRequests, problem.RateLimited)
	if resp.Header.Get("Retry-After") == "" {
		t.Error("a report past the limit has no Retry-After")
	}
}

// FuzzParseStatusReport checks that any body either fails or gives one
// line of valid UTF-8 within the store's bound.
func FuzzParseStatusReport(f *testing.F) {
	for _, s := range []string{
		`{"last_error": "order failed", "at": "2026-12-07T01:02:03Z"}`, `{"last_error": ""}`, `{}`, `null`,
		`{"last_error": "a\u0000b\nc\xff"}`, `{"last_error": "x"} {}`, `{"last_error": "x", "at": 5}`,
		`{"name_check": {"result": "filtered", "name": "192-168-1-20.l.lan.test", "detail": "no address"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := deviceserver.ParseStatusReport(strings.NewReader(string(b)))
		if err != nil {
			return
		}
		if r.LastError == nil && r.NameCheck == nil {
			t.Fatal("no error, no last_error and no name_check")
		}
		if c := r.NameCheck; c != nil && (len(c.Detail) > store.MaxStatusError || !utf8.ValidString(c.Detail) || c.Name == "") {
			t.Fatalf("name_check %+v: detail not bounded or no name", c)
		}
		if r.LastError == nil {
			return
		}
		e := *r.LastError
		if len(e) > store.MaxStatusError || !utf8.ValidString(e) || strings.ContainsAny(e, "\n\r\x00") {
			t.Fatalf("last_error %q: not one line of valid UTF-8 within %d bytes", e, store.MaxStatusError)
		}
	})
}

// TestNameCheck checks the device's report that its names do (not)
// resolve through its resolver: stored beside its last error, which it
// leaves alone; a name outside the device's own or an unknown result is a
// 400 problem.
func TestNameCheck(t *testing.T) {
	h := newHarness(t, deviceserver.Config{})
	d, token := h.device(t, "alice")
	if resp, body := h.do(t, "PUT", deviceapi.PathStatus, token, `{"last_error": "kept"}`); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PUT status: %s %s", resp.Status, body)
	}
	name := "192-168-1-20." + d.Label + ".lan.test"
	resp, body := h.do(t, "PUT", deviceapi.PathStatus, token, `{"name_check": {"result": "filtered", "name": "`+strings.ToUpper(name)+`.", "detail": "an answer\nwith no address", "at": "2026-12-07T01:02:03Z"}}`)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PUT name check: %s %s", resp.Status, body)
	}
	s, err := h.store.GetDeviceStatus(t.Context(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := store.NameCheck{Result: store.NameCheckFiltered, Name: name, Detail: "an answer with no address", At: time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC)}
	if s.NameCheck.Result != want.Result || s.NameCheck.Name != want.Name || s.NameCheck.Detail != want.Detail || !s.NameCheck.At.Equal(want.At) || s.LastError != "kept" {
		t.Errorf("stored %+v, want %+v beside the last error", s, want)
	}
	for _, bad := range []string{
		`{"name_check": {"result": "great", "name": "` + name + `"}}`,
		`{"name_check": {"result": "ok", "name": "192-168-1-20.other.lan.test"}}`,
		`{"name_check": {"result": "ok", "name": "*.` + d.Label + `.lan.test"}}`,
		`{"name_check": {"result": "ok"}}`,
	} {
		resp, body := h.do(t, "PUT", deviceapi.PathStatus, token, bad)
		wantProblem(t, "body "+bad[:min(len(bad), 60)], resp, body, http.StatusBadRequest, problem.Malformed)
	}
}
