package agent

import (
	"crypto/tls"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lantls/lantls/internal/testwait"
)

// TestFilesHookOncePerRenewal: the hook runs exactly once per certificate;
// a failing run is reported and retried; a restart does not rerun it.
func TestFilesHookOncePerRenewal(t *testing.T) {
	t.Parallel()
	ti := newTestIssuer(t)
	dir := t.TempDir()
	log := filepath.Join(dir, "hook.log")
	os.WriteFile(filepath.Join(dir, "fail"), nil, 0o600)
	f := &Files{
		CertFile:  filepath.Join(dir, "cert.pem"),
		KeyFile:   filepath.Join(dir, "key.pem"),
		ChainFile: filepath.Join(dir, "chain.pem"),
		// Logs the serial's PEM hash; fails while the file "fail" exists.
		Hook: `sum=$(sha256sum < "$LANTLS_CERT_FILE" | cut -c1-16); if [ -e fail ]; then rm fail; echo "fail $sum" >> hook.log; echo broken >&2; exit 3; fi; echo "ok $sum" >> hook.log`,
	}
	f.Hook = "cd " + dir + " && " + f.Hook
	storage := DirStorage(filepath.Join(dir, "state"))
	cfg := ti.config(storage)
	cfg.OnCertificate = f.Write
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop := runAgentStoppable(t, a)
	ti.approve(a)
	waitReady(t, a)
	readLines := func() []string {
		b, _ := os.ReadFile(log)
		return strings.FieldsFunc(string(b), func(r rune) bool { return r == '\n' })
	}
	waitLines := func(n int) []string {
		t.Helper()
		testwait.Until(20*time.Second, func() bool { return len(readLines()) >= n })
		return readLines()
	}
	lines := waitLines(2)
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "fail ") || !strings.HasPrefix(lines[1], "ok ") {
		t.Fatalf("hook log %q, want one failure then one success", lines)
	}
	if st := a.Status(); st.Failures != 1 || st.LastErrorAt.IsZero() {
		t.Errorf("status %+v: want the hook failure counted", st)
	}
	a.RenewNow()
	lines = waitLines(3)
	if len(lines) != 3 || !strings.HasPrefix(lines[2], "ok ") || lines[2] == lines[1] {
		t.Fatalf("hook log %q, want one more success for the new certificate", lines)
	}
	// The files hold the new certificate, the key 0600.
	cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Leaf.SerialNumber.Cmp(a.Certificate().Leaf.SerialNumber) != 0 {
		t.Error("cert file does not hold the served certificate")
	}
	if fi, _ := os.Stat(f.KeyFile); fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v", fi.Mode().Perm())
	}
	// The hook has written its line; wait until the agent has seen it exit
	// and recorded it, or stopping now would kill a hook the agent then
	// rightly runs again.
	testwait.For(t, 20*time.Second, "the hook's success to be recorded", func() bool {
		return a.Status().HookSerial == fmtSerial(a.Certificate().Leaf)
	})
	// The successes after the failure cleared the last error.
	if st := a.Status(); st.LastError != "" {
		t.Errorf("last error %q after the hook and renewal succeeded", st.LastError)
	}
	stop()

	// Restart: the hook has run for this certificate; it must not again.
	// The agent logs that decision, so the check waits for it rather than
	// for a guessed time.
	var out testwait.Buffer
	cfg.Logger = slog.New(slog.NewTextHandler(&out, nil))
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	runAgent(t, b)
	skipped := testwait.Until(20*time.Second, func() bool {
		return strings.Contains(out.String(), "certificate hook already ran for this certificate; not running it again\" serial="+fmtSerial(b.Certificate().Leaf))
	})
	if got := readLines(); len(got) != 3 {
		t.Errorf("restart reran the hook: %q", got)
	}
	if !skipped {
		t.Errorf("restart: no decision to skip the hook in the log:\n%s", out.String())
	}
}

func runAgentStoppable(t *testing.T, a *Agent) func() {
	t.Helper()
	ctx, cancel := contextWithCancel()
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}
