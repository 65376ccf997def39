// Package swtpmtest starts a software TPM 2.0 (Debian's swtpm) for tests:
// a real TPM implementation on a Unix socket, so that attestation is
// proven against a TPM rather than against bytes a test made itself.
package swtpmtest

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Start starts swtpm with a fresh state in a temporary directory and
// returns its command socket as "unix:PATH" (agent.OpenTPM's form). The TPM
// stops when the test ends. If swtpm is missing or does not start, the
// test is skipped with the reason, or fails when LANTLS_E2E_REQUIRE is set
// (as in CI, where scripts/test installs swtpm).
func Start(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("swtpm")
	if err != nil {
		unavailable(t, "swtpm is not installed (Debian: apt-get install swtpm swtpm-tools)")
	}
	// Unix socket paths are limited to about 100 bytes; t.TempDir can be
	// longer.
	dir, err := os.MkdirTemp("", "swtpm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "sock")
	var out bytes.Buffer
	cmd := exec.Command(bin, "socket", "--tpm2",
		"--server", "type=unixio,path="+sock,
		"--ctrl", "type=unixio,path="+filepath.Join(dir, "ctrl"),
		"--tpmstate", "dir="+dir,
		"--flags", "not-need-init,startup-clear")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		unavailable(t, "swtpm does not start: "+err.Error())
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
			return "unix:" + sock
		}
		select {
		case <-done:
			unavailable(t, "swtpm exited at start: "+out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			unavailable(t, "swtpm's socket did not appear within 10 s: "+out.String())
		}
	}
}

func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("LANTLS_E2E_REQUIRE") != "" {
		t.Fatal(why)
	}
	t.Skip(why)
}
