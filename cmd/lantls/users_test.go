package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lantls/lantls/store/sqlite"
	"github.com/lantls/lantls/users"
)

func TestUserCommands(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("correct horse battery\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	runOK := func(args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), &env{stdout: &stdout, stderr: &stderr}, append([]string{"admin", "--data", dir}, args...)); code != 0 {
			t.Fatalf("lantls admin %s: exit %d\n%s%s", strings.Join(args, " "), code, &stdout, &stderr)
		}
		return stdout.String()
	}
	if out := runOK("user", "add", "alice", "--admin", "--password-file", pw); !strings.Contains(out, `added admin "alice"`) {
		t.Errorf("user add printed %q", out)
	}
	runOK("user", "add", "bob", "--password-file", pw)
	out := runOK("user", "list")
	for _, want := range []string{"alice", "admin", "bob", "owner"} {
		if !strings.Contains(out, want) {
			t.Errorf("user list does not show %q:\n%s", want, out)
		}
	}
	if err := os.WriteFile(pw, []byte("a brand new password\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	runOK("user", "passwd", "bob", "--password-file", pw)
	if err := os.WriteFile(pw, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	if code := run(context.Background(), &env{stdout: io.Discard, stderr: &stderr}, []string{"admin", "--data", dir, "user", "add", "carol", "--password-file", pw}); code != 1 || !strings.Contains(stderr.String(), "too short") {
		t.Errorf("user add with a short password: exit %d, %q; want 1 and 'too short'", code, &stderr)
	}

	st, err := sqlite.Open(t.Context(), filepath.Join(dir, "lantls.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := users.Authenticate(t.Context(), st, "bob", "a brand new password"); err != nil {
		t.Errorf("bob's new password: %v", err)
	}
}

func TestUserUsageErrors(t *testing.T) {
	runCases(t, []cliCase{
		{args: []string{"admin", "--help"}, code: 0, stdout: "user add"},
		{args: []string{"admin", "user"}, code: 2, stderr: "'user' needs a command"},
		{args: []string{"admin", "user", "frob"}, code: 2, stderr: "unknown user command"},
		{args: []string{"admin", "user", "add"}, code: 2, stderr: "exactly one user NAME"},
		{args: []string{"admin", "user", "add", "a b"}, code: 2, stderr: "space"},
		{args: []string{"admin", "--data", "DATADIR", "user", "passwd", "nobody", "--password-file", "DATADIR/plain"}, code: 1, stderr: "no user named"},
		{args: []string{"admin", "--data", "DATADIR", "user", "add", "al", "--password-file", "DATADIR/missing"}, code: 1, stderr: "--password-file"},
	})
}
