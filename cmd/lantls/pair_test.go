package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lantls/lantls/store"
	"github.com/lantls/lantls/store/sqlite"
)

// addPairing stores a pending pairing with user code code, as the issuer's
// /pair/device_authorization would.
func addPairing(t *testing.T, st store.Store, code, label string) {
	t.Helper()
	sum := sha256.Sum256([]byte(code))
	now := time.Now()
	p := &store.Pairing{
		DeviceCodeHash: "dc-" + code, UserCode: code, UserCodeHash: hex.EncodeToString(sum[:]),
		ClientID: "lantls-agent", Model: "TV 9000", Hostname: "tv-" + strings.ToLower(code[:4]),
		KeyThumbprint: "tp-" + code, Label: label, Source: "192.0.2.7", Status: store.StatusPending,
		Interval: time.Second, CreatedAt: now, Expires: now.Add(10 * time.Minute),
	}
	if err := st.CreatePairing(t.Context(), p); err != nil {
		t.Fatal(err)
	}
}

func TestPairCommands(t *testing.T) {
	dir := t.TempDir()
	st, err := sqlite.Open(t.Context(), filepath.Join(dir, "lantls.db"))
	if err != nil {
		t.Fatal(err)
	}
	addPairing(t, st, "WDJBMJHT", "aaaaaaaaaaaaaaaaaaaaaaaaaa")
	addPairing(t, st, "BCDFGHJK", "bbbbbbbbbbbbbbbbbbbbbbbbbb")
	st.Close()
	runOK := func(args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), &env{stdout: &stdout, stderr: &stderr}, append([]string{"admin", "--data", dir}, args...)); code != 0 {
			t.Fatalf("lantls admin %s: exit %d\n%s%s", strings.Join(args, " "), code, &stdout, &stderr)
		}
		return stdout.String()
	}
	out := runOK("pair", "list")
	for _, want := range []string{"USER_CODE", "WDJB-MJHT", "BCDF-GHJK", "pending", "TV 9000", "tv-wdjb", "192.0.2.7", "aaaaaaaaaaaaaaaaaaaaaaaaaa"} {
		if !strings.Contains(out, want) {
			t.Errorf("pair list does not show %q:\n%s", want, out)
		}
	}
	// A misspelt owner is an error, not a new owner.
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), &env{stdout: &stdout, stderr: &stderr}, []string{"admin", "--data", dir, "pair", "approve", "wdjbmjht", "--owner", "alcie"}); code != 1 ||
		!strings.Contains(stderr.String(), `no owner named "alcie"`) || !strings.Contains(stderr.String(), "--new-owner") {
		t.Errorf("approve for an unknown owner: exit %d\n%s", code, &stderr)
	}
	if out := runOK("pair", "approve", "wdjbmjht", "--owner", "alice", "--new-owner"); !strings.Contains(out, `approved WDJB-MJHT`) || !strings.Contains(out, `owner "alice"`) {
		t.Errorf("pair approve printed %q", out)
	}
	if out := runOK("pair", "deny", "BCDF-GHJK"); !strings.Contains(out, "denied") {
		t.Errorf("pair deny printed %q", out)
	}
	out = runOK("pair", "list", "--json")
	var got []pairingJSON
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var j pairingJSON
		if err := json.Unmarshal([]byte(line), &j); err != nil {
			t.Fatalf("pair list --json line %q: %v", line, err)
		}
		got = append(got, j)
	}
	if len(got) != 2 || got[0].Status != "approved" || got[0].Owner != "alice" || got[0].Actor != "cli" || got[1].Status != "denied" {
		t.Errorf("pair list --json = %+v", got)
	}
	st, err = sqlite.Open(t.Context(), filepath.Join(dir, "lantls.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d, err := st.GetDeviceByLabel(t.Context(), "aaaaaaaaaaaaaaaaaaaaaaaaaa")
	if err != nil || d.Name != "tv-wdjb" || d.KeyThumbprint != "tp-WDJBMJHT" {
		t.Errorf("approved device = %+v, %v", d, err)
	}
}

func TestPairUsageErrors(t *testing.T) {
	runCases(t, []cliCase{
		{args: []string{"admin", "--help"}, code: 0, stdout: "pair approve"},
		{args: []string{"admin", "pair"}, code: 2, stderr: "'pair' needs a command"},
		{args: []string{"admin", "pair", "frob"}, code: 2, stderr: "unknown pair command"},
		{args: []string{"admin", "pair", "approve", "--help"}, code: 0, stdout: "--owner"},
		{args: []string{"admin", "pair", "approve", "WDJB-MJHT"}, code: 2, stderr: "--owner is required"},
		{args: []string{"admin", "pair", "approve", "--owner", "a"}, code: 2, stderr: "exactly one USER_CODE"},
		{args: []string{"admin", "pair", "deny"}, code: 2, stderr: "exactly one USER_CODE"},
		{args: []string{"admin", "--data", "DATADIR", "pair", "deny", "WDJB-MJHT"}, code: 1, stderr: "no pending pairing has this code"},
		{args: []string{"admin", "--data", "DATADIR/none", "pair", "list"}, code: 1, stderr: "does not exist"},
	})
}
