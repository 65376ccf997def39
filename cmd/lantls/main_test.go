package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	runCases(t, []cliCase{
		{args: []string{"--help"}, code: 0, stdout: "Commands:"},
		{args: nil, code: 2, stdout: "Usage:"},
		{args: []string{"version"}, code: 0, stdout: "lantls "},
		{args: []string{"issuer", "--help"}, code: 0, stdout: "--zone"},
		{args: []string{"admin", "--help"}, code: 0, stdout: "device add"},
		{args: []string{"admin", "device", "add", "--help"}, code: 0, stdout: "--owner"},
		{args: []string{"demo", "--help"}, code: 0, stdout: "--check"},
		{args: []string{"frobnicate"}, code: 2, stderr: "unknown command \"frobnicate\"; run 'lantls --help'"},
		{args: []string{"issuer", "--bogus"}, code: 2, stderr: "run 'lantls issuer --help'"},
		{args: []string{"issuer", "extra"}, code: 2, stderr: "unexpected argument \"extra\""},
		{args: []string{"issuer", "--signer", "hsm", "--data", "DATADIR"}, code: 1, stderr: "change it with --signer"},
		{args: []string{"issuer", "--zone", "nodots", "--data", "DATADIR"}, code: 1, stderr: "zone \"nodots\""},
		{args: []string{"issuer", "--log-format", "xml"}, code: 2, stderr: "use text or json"},
		{args: []string{"issuer", "--config", "DATADIR/plain"}, code: 2, stderr: "plain:1: \"kid c2VjcmV0\" is not 'name = value'"},
		{args: []string{"issuer", "--config", "DATADIR/missing"}, code: 2, stderr: "--config: open"},
		{args: []string{"health", "--help"}, code: 0, stdout: "--url"},
		{args: []string{"health", "--data", "DATADIR"}, code: 1, stderr: "has an issuer run with --data"},
		{args: []string{"admin", "--config", "DATADIR/plain", "device", "list"}, code: 2, stderr: "is not 'name = value'"},
		{args: []string{"admin", "device"}, code: 2, stderr: "'device' needs a command"},
		{args: []string{"admin", "frob"}, code: 2, stderr: "unknown command \"frob\""},
		{args: []string{"admin", "device", "frob"}, code: 2, stderr: "unknown device command"},
		{args: []string{"admin", "--data", "DATADIR/missing", "device", "list"}, code: 1, stderr: "does not exist"},
		{args: []string{"admin", "device", "add", "--owner", "alice"}, code: 2, stderr: "--owner and --name are required"},
		{args: []string{"admin", "device", "revoke"}, code: 2, stderr: "exactly one device LABEL"},
		{args: []string{"admin", "device", "unpair"}, code: 2, stderr: "exactly one device LABEL"},
		{args: []string{"admin", "device", "revoke-certificates", "a", "b"}, code: 2, stderr: "exactly one device LABEL"},
		{args: []string{"admin", "--help"}, code: 0, stdout: "device revoke-certificates"},
	})
}

// cliCase is one command line and what it must do.
type cliCase struct {
	args   []string // DATADIR stands for a fresh directory holding a file "plain"
	code   int
	stdout string // substring of stdout
	stderr string // substring of stderr
}

// runCases runs each case as a subtest through run, with its own data dir.
func runCases(t *testing.T, cases []cliCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "plain"), []byte("kid c2VjcmV0\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			args := make([]string, len(tt.args))
			for i, a := range tt.args {
				args[i] = strings.ReplaceAll(a, "DATADIR", dir)
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), &env{stdout: &stdout, stderr: &stderr}, args)
			if code != tt.code {
				t.Errorf("exit code = %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, &stdout, &stderr)
			}
			if !strings.Contains(stdout.String(), tt.stdout) {
				t.Errorf("stdout = %q, want it to contain %q", &stdout, tt.stdout)
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr = %q, want it to contain %q", &stderr, tt.stderr)
			}
		})
	}

}
