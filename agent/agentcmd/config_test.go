package agentcmd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigFile checks that the agent's subcommands read --config and
// LANTLS_AGENT_* (internal/flagfile), with the command line winning.
func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "agent.conf")
	fromFile := filepath.Join(dir, "from-file")
	if err := os.WriteFile(conf, []byte("# the agent\ndata = "+fromFile+"\nproxy-to = http://127.0.0.1:8080\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		env  string // LANTLS_AGENT_DATA
		want string
	}{
		{args: []string{"status", "--config", conf}, want: fromFile},
		{args: []string{"status", "--config", conf}, env: filepath.Join(dir, "from-env"), want: filepath.Join(dir, "from-env")},
		{args: []string{"status", "--config", conf, "--data", filepath.Join(dir, "from-args")}, env: filepath.Join(dir, "from-env"), want: filepath.Join(dir, "from-args")},
	} {
		t.Run(tt.want, func(t *testing.T) {
			t.Setenv(EnvPrefix+"DATA", tt.env)
			var stdout, stderr bytes.Buffer
			err := Run(context.Background(), "lantls-agent", tt.args, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), "--data "+tt.want) {
				t.Errorf("Run = %v, want the error to name --data %s", err, tt.want)
			}
		})
	}
	if err := os.WriteFile(conf, []byte("proxy-to = ftp://x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Run(context.Background(), "lantls-agent", []string{"--config", conf}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), `--proxy-to "ftp://x"`) {
		t.Errorf("run with a bad proxy-to in the file = %v", err)
	}
}
