package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lantls/lantls/bench"
	"github.com/lantls/lantls/issuer"
	"github.com/lantls/lantls/issuer/issuertest"
	"github.com/lantls/lantls/store"
)

func TestUsage(t *testing.T) {
	for _, tt := range []struct {
		args   []string // DATADIR stands for a fresh directory holding a file "plain"
		code   int
		stdout string // substring of stdout
		stderr string // substring of stderr
	}{
		{args: []string{"--help"}, code: 0, stdout: "issue  drive whole ACME issuances"},
		{args: nil, code: 2, stderr: "want 'issue' or 'seed'"},
		{args: []string{"frob"}, code: 2, stderr: "unknown command \"frob\""},
		{args: []string{"issue", "--help"}, code: 0, stdout: "--eab-file"},
		{args: []string{"issue"}, code: 2, stderr: "--directory is required"},
		{args: []string{"issue", "--bogus"}, code: 2, stderr: "run 'lantls-bench issue --help'"},
		{args: []string{"issue", "--directory", "https://127.0.0.1:1/dir"}, code: 2, stderr: "pass --names-template and --n"},
		{args: []string{"issue", "--directory", "https://127.0.0.1:1/dir", "--eab-file", "DATADIR/missing"}, code: 1, stderr: "no such file"},
		{args: []string{"issue", "--directory", "https://127.0.0.1:1/dir", "--eab-file", "DATADIR/plain", "--n", "1"}, code: 1, stderr: "pass a names template"},
		{args: []string{"issue", "--directory", "https://127.0.0.1:1/dir", "--names-template", "a.example", "--n", "1", "--ca-bundle", "DATADIR/plain"}, code: 1, stderr: "holds no PEM certificate"},
		{args: []string{"seed", "--help"}, code: 0, stdout: "--devices"},
		{args: []string{"seed", "--data", "DATADIR"}, code: 2, stderr: "--devices must be at least 1"},
		{args: []string{"seed", "--data", "DATADIR/missing", "--devices", "1"}, code: 1, stderr: "does not exist"},
		{args: []string{"seed", "extra"}, code: 2, stderr: "unexpected argument \"extra\""},
	} {
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

func TestSeed(t *testing.T) {
	dir := t.TempDir()
	eab := filepath.Join(dir, "eab.jsonl")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), &env{stdout: &stdout, stderr: &stderr},
		[]string{"seed", "--data", dir, "--devices", "7", "--batch", "3", "--eab-out", eab})
	if code != 0 {
		t.Fatalf("exit code %d\nstdout: %s\nstderr: %s", code, &stdout, &stderr)
	}
	if !strings.Contains(stdout.String(), "seeded 7 devices") || !strings.Contains(stdout.String(), "bytes per device") {
		t.Errorf("stdout = %q", &stdout)
	}
	if !strings.Contains(stderr.String(), "seeded 7/7 devices") {
		t.Errorf("stderr has no final progress line: %q", &stderr)
	}
	b, err := os.ReadFile(eab)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), `"eab_hmac_key"`); n != 7 {
		t.Errorf("--eab-out holds %d keys, want 7", n)
	}

	st, err := issuer.OpenStore(context.Background(), dir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	devs, err := st.ListDevices(context.Background(), store.DeviceFilter{})
	if err != nil || len(devs) != 7 {
		t.Errorf("devices after seeding: %d, %v; want 7", len(devs), err)
	}
}

// TestIssue seeds devices into a running issuer and issues for each.
func TestIssue(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	iss, _ := issuertest.Start(t, issuer.Config{DataDir: dir})

	eab := filepath.Join(t.TempDir(), "eab.jsonl")
	var stdout, stderr bytes.Buffer
	if code := run(ctx, &env{stdout: &stdout, stderr: &stderr}, []string{"seed", "--data", dir, "--devices", "3", "--eab-out", eab}); code != 0 {
		t.Fatalf("seed: exit %d: %s", code, &stderr)
	}
	stdout.Reset()
	code := run(ctx, &env{stdout: &stdout, stderr: &stderr}, []string{"issue",
		"--directory", iss.Info().Directory, "--ca-bundle", iss.Info().Root, "--eab-file", eab, "--c", "2", "--verify", "--json"})
	if code != 0 {
		t.Fatalf("issue: exit %d\nstdout: %s\nstderr: %s", code, &stdout, &stderr)
	}
	var res bench.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("--json output: %v\n%s", err, &stdout)
	}
	if res.Issued != 3 || res.Failed != 0 || res.Concurrency != 2 || res.StoppedBy != bench.StopCount {
		t.Errorf("result %+v", res)
	}
}
