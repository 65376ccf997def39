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
)

func TestBenchUsage(t *testing.T) {
	runCases(t, []cliCase{
		{args: []string{"bench", "--help"}, code: 0, stdout: "issue  drive whole ACME issuances"},
		{args: []string{"bench"}, code: 2, stderr: "want 'issue' or 'seed'"},
		{args: []string{"bench", "frob"}, code: 2, stderr: "unknown command \"frob\""},
		{args: []string{"bench", "issue", "--help"}, code: 0, stdout: "--eab-file"},
		{args: []string{"bench", "issue"}, code: 2, stderr: "--directory is required"},
		{args: []string{"bench", "issue", "--directory", "https://127.0.0.1:1/dir"}, code: 2, stderr: "pass --names-template and --n"},
		{args: []string{"bench", "issue", "--directory", "https://127.0.0.1:1/dir", "--eab-file", "DATADIR/missing"}, code: 1, stderr: "no such file"},
		{args: []string{"bench", "issue", "--directory", "https://127.0.0.1:1/dir", "--eab-file", "DATADIR/plain", "--n", "1"}, code: 1, stderr: "pass a names template"},
		{args: []string{"bench", "issue", "--directory", "https://127.0.0.1:1/dir", "--names-template", "a.example", "--n", "1", "--ca-bundle", "DATADIR/plain"}, code: 1, stderr: "holds no PEM certificate"},
		{args: []string{"bench", "seed", "--help"}, code: 0, stdout: "--devices"},
		{args: []string{"bench", "seed", "--data", "DATADIR"}, code: 2, stderr: "--devices must be at least 1"},
	})
}

func TestBenchSeed(t *testing.T) {
	dir := t.TempDir()
	eab := filepath.Join(dir, "eab.jsonl")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), &env{stdout: &stdout, stderr: &stderr},
		[]string{"bench", "seed", "--data", dir, "--devices", "7", "--batch", "3", "--eab-out", eab})
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

	stdout.Reset()
	code = run(context.Background(), &env{stdout: &stdout, stderr: &stderr}, []string{"admin", "--data", dir, "device", "list", "--json"})
	if code != 0 || strings.Count(stdout.String(), `"owner":"bench"`) != 7 {
		t.Errorf("device list after seeding: exit %d\n%s", code, &stdout)
	}
}

func TestBenchIssue(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	iss, _ := issuertest.Start(t, issuer.Config{DataDir: dir})

	var devs, stdout, stderr bytes.Buffer
	if code := run(ctx, &env{stdout: &devs, stderr: &stderr}, []string{"admin", "--data", dir, "device", "add", "--owner", "bench", "--name", "dev", "--count", "3", "--json"}); code != 0 {
		t.Fatalf("device add: exit %d: %s", code, &stderr)
	}
	eab := filepath.Join(dir, "eab.jsonl")
	if err := os.WriteFile(eab, devs.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	code := run(ctx, &env{stdout: &stdout, stderr: &stderr}, []string{"bench", "issue",
		"--directory", iss.Info().Directory, "--ca-bundle", iss.Info().Root, "--eab-file", eab, "--c", "2", "--verify", "--json"})
	if code != 0 {
		t.Fatalf("bench issue: exit %d\nstdout: %s\nstderr: %s", code, &stdout, &stderr)
	}
	var res bench.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("--json output: %v\n%s", err, &stdout)
	}
	if res.Issued != 3 || res.Failed != 0 || res.Concurrency != 2 || res.StoppedBy != bench.StopCount {
		t.Errorf("result %+v", res)
	}
}
