package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lantls/lantls/internal/testwait"
)

// TestScriptsHelp runs every script under bench/ and scripts/ with --help:
// each prints its usage and exits 0 at once, without running anything
// (bench/issue.sh would otherwise start a benchmark of many minutes), and
// refuses an argument it does not take with status 2.
func TestScriptsHelp(t *testing.T) {
	t.Parallel()
	root, err := moduleRoot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var scripts []string
	for _, pattern := range []string{"bench/*.sh", "scripts/*"} {
		m, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			t.Fatal(err)
		}
		scripts = append(scripts, m...)
	}
	if len(scripts) < 2 {
		t.Fatalf("found only %q under bench/ and scripts/", scripts)
	}
	for _, script := range scripts {
		name, _ := filepath.Rel(root, script)
		if fi, err := os.Stat(script); err != nil || fi.IsDir() {
			continue
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, arg := range []string{"--help", "-h"} {
				r := runScript(t, script, arg)
				if r.code != 0 || !strings.Contains(r.stdout, "Usage: "+name) {
					t.Errorf("%s %s: want exit 0 and a line \"Usage: %s ...\"\n%s", name, arg, name, r)
				}
				if r.elapsed > 5*time.Second {
					t.Errorf("%s %s took %s: it seems to have run something", name, arg, r.elapsed)
				}
			}
			if r := runScript(t, script, "--no-such-flag"); r.code != 2 || !strings.Contains(r.stderr, "--no-such-flag") {
				t.Errorf("%s --no-such-flag: want exit 2 and a message naming it\n%s", name, r)
			}
		})
	}
}

// runScript runs script with bash and one argument, bounded to 30 s.
func runScript(t *testing.T, script, arg string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := command(ctx, "bash", script, arg)
	cmd.Env = loopbackEnv()
	var stdout, stderr testwait.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	return result{
		cmdline: "bash " + script + " " + arg,
		stdout:  stdout.String(),
		stderr:  stderr.String(),
		code:    cmd.ProcessState.ExitCode(),
		err:     err,
		elapsed: time.Since(start),
	}
}
