package issuer_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/lantls/lantls/deviceapi"
	"github.com/lantls/lantls/issuer"
	"github.com/lantls/lantls/store"
)

func putStatus(t *testing.T, c *http.Client, iss *issuer.Issuer, token, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, iss.Info().BaseURL+"/api/v1/device/status", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	return resp, buf.String()
}

func TestDeviceStatus(t *testing.T) {
	iss, client := startIssuer(t, t.TempDir())
	st := iss.Store()
	d, token := pairedDevice(t, st)
	status := func() *store.DeviceStatus {
		t.Helper()
		s, err := st.GetDeviceStatus(t.Context(), d.ID)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	resp, body := putStatus(t, client, iss, token, `{"last_error": "order failed: <b>rate limited</b>\n", "at": "2026-12-07T01:02:03Z"}`)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PUT status: %s %s", resp.Status, body)
	}
	s := status()
	if s.LastError != "order failed: <b>rate limited</b>" || !s.At.Equal(time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC)) || s.UpdatedAt.IsZero() {
		t.Errorf("stored %+v, want the text on one line, as sent, and its time", s)
	}

	// Long text is cut; a time far ahead becomes the issuer's.
	resp, body = putStatus(t, client, iss, token, `{"last_error": "`+strings.Repeat("é", 2000)+`", "at": "2099-01-01T00:00:00Z"}`)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PUT long status: %s %s", resp.Status, body)
	}
	if s := status(); len(s.LastError) > store.MaxStatusError || !utf8.ValidString(s.LastError) || s.At.Year() == 2099 {
		t.Errorf("long report stored as %d bytes (valid UTF-8 %v) at %v", len(s.LastError), utf8.ValidString(s.LastError), s.At)
	}

	// Bad bodies: 400 problems, nothing changed.
	for _, bad := range []string{`{}`, `{"at": "2026-12-07T01:02:03Z"}`, `{"last_error": 1}`, `{"last_error": "x", "at": "yesterday"}`,
		`{"last_error": "x", "other": 1}`, `{"last_error": "x"} {}`, `{"last_error": "` + strings.Repeat("x", deviceapi.MaxStatusBody) + `"}`} {
		resp, body := putStatus(t, client, iss, token, bad)
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Type") != "application/problem+json" ||
			!strings.Contains(body, "urn:ietf:params:acme:error:malformed") {
			t.Errorf("body %.40s: %s %s, want a 400 malformed problem", bad, resp.Status, body)
		}
	}
	// No token or a wrong one: 401 with the Bearer challenge.
	for _, tok := range []string{"", "lantls_at_wrong"} {
		resp, body := putStatus(t, client, iss, tok, `{"last_error": "forged"}`)
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("token %q: %s %s, want 401 with WWW-Authenticate: Bearer", tok, resp.Status, body)
		}
	}
	if s := status(); strings.Contains(s.LastError, "forged") || !strings.HasPrefix(s.LastError, "éé") {
		t.Errorf("a refused report changed the status: %.40q", s.LastError)
	}

	// An empty error clears it.
	if resp, body := putStatus(t, client, iss, token, `{"last_error": ""}`); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("clear: %s %s", resp.Status, body)
	}
	if s := status(); s.LastError != "" || s.At.IsZero() {
		t.Errorf("after a clear: %+v, want no error and the time of the success", s)
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
		r, err := issuer.ParseStatusReport(bytes.NewReader(b))
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

// TestDeviceNameCheck checks the device's report that its names do (not)
// resolve through its resolver: stored beside its last error, which it
// leaves alone; a name outside the device's own or an unknown result is a
// 400 problem.
func TestDeviceNameCheck(t *testing.T) {
	iss, client := startIssuer(t, t.TempDir())
	st := iss.Store()
	d, token := pairedDevice(t, st)
	if resp, body := putStatus(t, client, iss, token, `{"last_error": "kept"}`); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PUT status: %s %s", resp.Status, body)
	}
	name := "192-168-1-20." + d.Label + "." + iss.Info().Zone
	resp, body := putStatus(t, client, iss, token, `{"name_check": {"result": "filtered", "name": "`+strings.ToUpper(name)+`.", "detail": "an answer\nwith no address", "at": "2026-12-07T01:02:03Z"}}`)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PUT name check: %s %s", resp.Status, body)
	}
	s, err := st.GetDeviceStatus(t.Context(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := store.NameCheck{Result: store.NameCheckFiltered, Name: name, Detail: "an answer with no address", At: time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC)}
	if s.NameCheck.Result != want.Result || s.NameCheck.Name != want.Name || s.NameCheck.Detail != want.Detail || !s.NameCheck.At.Equal(want.At) || s.LastError != "kept" {
		t.Errorf("stored %+v, want %+v beside the last error", s, want)
	}
	for _, bad := range []string{
		`{"name_check": {"result": "great", "name": "` + name + `"}}`,
		`{"name_check": {"result": "ok", "name": "192-168-1-20.other.` + iss.Info().Zone + `"}}`,
		`{"name_check": {"result": "ok", "name": "*.` + d.Label + "." + iss.Info().Zone + `"}}`,
		`{"name_check": {"result": "ok"}}`,
	} {
		resp, body := putStatus(t, client, iss, token, bad)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "urn:ietf:params:acme:error:malformed") {
			t.Errorf("body %.60s: %s %s, want a 400 malformed problem", bad, resp.Status, body)
		}
	}
}
