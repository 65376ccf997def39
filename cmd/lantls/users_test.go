package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lantls/lantls/ca/upstream"
	"github.com/lantls/lantls/store"
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

// TestUserLifecycleCommands: passwd ends passkeys; disable, enable and
// delete; passkeys list and remove; the last admin is kept.
func TestUserLifecycleCommands(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("correct horse battery\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	runCode := func(args ...string) (int, string) {
		t.Helper()
		var out bytes.Buffer
		code := run(context.Background(), &env{stdout: &out, stderr: &out}, append([]string{"admin", "--data", dir}, args...))
		return code, out.String()
	}
	runOK := func(args ...string) string {
		t.Helper()
		code, out := runCode(args...)
		if code != 0 {
			t.Fatalf("lantls admin %s: exit %d\n%s", strings.Join(args, " "), code, out)
		}
		return out
	}
	runOK("user", "add", "root", "--admin", "--password-file", pw)
	runOK("user", "add", "bob", "--password-file", pw)
	st, err := sqlite.Open(t.Context(), filepath.Join(dir, "lantls.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	bob, err := st.GetUserByName(t.Context(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	addKey := func(id byte) {
		t.Helper()
		if err := st.CreatePasskey(t.Context(), &store.Passkey{ID: []byte{id, id, id}, UserID: bob.ID, Name: "key", Data: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	addKey(1)
	addKey(2)
	if out := runOK("user", "passkeys", "list", "bob"); !strings.Contains(out, "AQEB") || !strings.Contains(out, "AgIC") {
		t.Errorf("passkeys list:\n%s", out)
	}
	runOK("user", "passkeys", "remove", "bob", "AQEB")
	if keys, _ := st.ListPasskeys(t.Context(), bob.ID); len(keys) != 1 {
		t.Errorf("after remove: %d passkeys, want 1", len(keys))
	}
	if code, out := runCode("user", "passkeys", "remove", "bob", "AQEB"); code != 1 || !strings.Contains(out, "no passkey") {
		t.Errorf("remove of a missing passkey: %d %s", code, out)
	}
	addKey(3)
	runOK("user", "passwd", "bob", "--password-file", pw)
	if keys, _ := st.ListPasskeys(t.Context(), bob.ID); len(keys) != 0 {
		t.Errorf("after passwd: %d passkeys, want none", len(keys))
	}

	runOK("user", "disable", "bob")
	if out := runOK("user", "list"); !strings.Contains(out, "disabled") {
		t.Errorf("user list does not show bob disabled:\n%s", out)
	}
	if _, err := users.Authenticate(t.Context(), st, "bob", "correct horse battery"); err == nil {
		t.Error("a disabled user logs in")
	}
	runOK("user", "enable", "bob")
	if _, err := users.Authenticate(t.Context(), st, "bob", "correct horse battery"); err != nil {
		t.Errorf("an enabled user: %v", err)
	}
	for _, cmd := range []string{"disable", "delete"} {
		if code, out := runCode("user", cmd, "root"); code != 1 || !strings.Contains(out, "only admin") {
			t.Errorf("user %s of the only admin: %d %s", cmd, code, out)
		}
	}
	runOK("user", "delete", "bob")
	if _, err := st.GetUserByName(t.Context(), "bob"); err == nil {
		t.Error("bob is still there after delete")
	}
	if code, out := runCode("user", "delete", "bob"); code != 1 || !strings.Contains(out, "no user named") {
		t.Errorf("delete of a missing user: %d %s", code, out)
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

// TestBudgetCommand: the admin sees who used the upstream budget.
func TestBudgetCommand(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if code := run(context.Background(), &env{stdout: &out, stderr: &out}, []string{"admin", "--data", dir, "device", "add", "--owner", "alice", "--name", "tv"}); code != 0 {
		t.Fatalf("device add: %d %s", code, &out)
	}
	st, err := sqlite.Open(t.Context(), filepath.Join(dir, "lantls.db"))
	if err != nil {
		t.Fatal(err)
	}
	o, err := st.GetOwnerByName(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	share := upstream.DefaultLimits.CertificatesPerOwner
	err = st.Update(t.Context(), func(tx store.Tx) error {
		for range share.Count {
			if err := share.Take(t.Context(), tx, o.ID, time.Now()); err != nil {
				return err
			}
		}
		return nil
	})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := run(context.Background(), &env{stdout: &out, stderr: &out}, []string{"admin", "--data", dir, "budget"}); code != 0 {
		t.Fatalf("budget: %d %s", code, &out)
	}
	for _, want := range []string{"domain lan.test: 0 used", "alice", "10", "all used; the next at"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("budget output lacks %q:\n%s", want, &out)
		}
	}
}
