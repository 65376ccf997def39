package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCACommands(t *testing.T) {
	runCases(t, []cliCase{
		{args: []string{"ca", "--help"}, code: 0, stdout: "rotate-intermediate"},
		{args: []string{"ca", "init", "--help"}, code: 0, stdout: "--permit"},
		{args: []string{"ca", "rotate-intermediate", "--help"}, code: 0, stdout: "--root-key"},
		{args: []string{"ca"}, code: 2, stderr: "want init, rotate-intermediate or show"},
		{args: []string{"ca", "frob"}, code: 2, stderr: "unknown command \"frob\""},
		{args: []string{"ca", "rotate-intermediate", "--data", "DATADIR"}, code: 2, stderr: "--root-key FILE is required"},
		{args: []string{"ca", "init", "--data", "DATADIR", "--root-key-out", "DATADIR/k"}, code: 2, stderr: "inside --data"},
		{args: []string{"ca", "init", "--data", "DATADIR/d", "--permit", "a b"}, code: 1, stderr: "neither a DNS name nor an IP address"},
		{args: []string{"ca", "show", "--data", "DATADIR"}, code: 1, stderr: "no such file"},
	})
}

// TestCAInitRotate runs init, show, a second init and rotate-intermediate
// with an encrypted root key, as an operator would.
func TestCAInitRotate(t *testing.T) {
	dir := t.TempDir()
	data, key, pass := filepath.Join(dir, "data"), filepath.Join(dir, "offline", "root.key"), filepath.Join(dir, "pass")
	if err := os.Mkdir(filepath.Dir(key), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pass, []byte("a long passphrase\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cli := func(wantCode int, args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), &env{stdout: &stdout, stderr: &stderr}, args); code != wantCode {
			t.Fatalf("lantls %s: exit code %d, want %d\n%s%s", strings.Join(args, " "), code, wantCode, &stdout, &stderr)
		}
		return stdout.String() + stderr.String()
	}
	out := cli(0, "ca", "init", "--data", data, "--zone", "home.arpa", "--permit", "hub.example.net,192.168.1.2", "--root-key-out", key, "--passphrase-file", pass)
	for _, want := range []string{"permits      DNS:home.arpa, DNS:hub.example.net, IP:192.168.1.2/32", "excludes     IP:::/0", key, "Move it off this machine"} {
		if !strings.Contains(out, want) {
			t.Errorf("ca init output lacks %q:\n%s", want, out)
		}
	}
	if b, err := os.ReadFile(key); err != nil || !bytes.Contains(b, []byte("ENCRYPTED PRIVATE KEY")) {
		t.Errorf("root key file not encrypted: %v", err)
	}
	if out := cli(0, "ca", "show", "--data", data); !strings.Contains(out, "SHA-256") || !strings.Contains(out, "DNS:home.arpa") ||
		!strings.Contains(out, "intermediate lantls local intermediate home.arpa, valid until") || strings.Contains(out, "WARNING") {
		t.Errorf("ca show:\n%s", out)
	}
	if out := cli(1, "ca", "init", "--data", data, "--root-key-out", filepath.Join(dir, "other.key")); !strings.Contains(out, "already exists") || !strings.Contains(out, "move the CA directory aside") {
		t.Errorf("second ca init:\n%s", out)
	}
	before, err := os.ReadFile(filepath.Join(data, "ca", "intermediate.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if out := cli(1, "ca", "rotate-intermediate", "--data", data, "--root-key", key, "--passphrase-file", filepath.Join(dir, "offline", "missing")); !strings.Contains(out, "passphrase-file") {
		t.Errorf("rotate with a missing passphrase file:\n%s", out)
	}
	out = cli(0, "ca", "rotate-intermediate", "--data", data, "--root-key", key, "--passphrase-file", pass)
	if !strings.Contains(out, "Made a new intermediate") {
		t.Errorf("rotate-intermediate:\n%s", out)
	}
	after, err := os.ReadFile(filepath.Join(data, "ca", "intermediate.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(before, after) {
		t.Error("the intermediate did not change")
	}
}
