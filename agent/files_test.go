package agent

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	waitLines := func(n int) []string {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			b, _ := os.ReadFile(log)
			lines := strings.Fields(strings.ReplaceAll(string(b), "\n", " "))
			if len(lines)/2 >= n || time.Now().After(deadline) {
				return strings.Split(strings.TrimSpace(string(b)), "\n")
			}
			time.Sleep(20 * time.Millisecond)
		}
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
	for deadline := time.Now().Add(20 * time.Second); a.Status().HookSerial != fmtSerial(a.Certificate().Leaf); {
		if time.Now().After(deadline) {
			t.Fatal("the hook's success was not recorded")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The successes after the failure cleared the last error.
	if st := a.Status(); st.LastError != "" {
		t.Errorf("last error %q after the hook and renewal succeeded", st.LastError)
	}
	stop()

	// Restart: the hook has run for this certificate; it must not again.
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	runAgent(t, b)
	time.Sleep(500 * time.Millisecond)
	b2, _ := os.ReadFile(log)
	if got := strings.Split(strings.TrimSpace(string(b2)), "\n"); len(got) != 3 {
		t.Errorf("restart reran the hook: %q", got)
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
