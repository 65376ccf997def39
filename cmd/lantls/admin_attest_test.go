package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestAttestCommands sets, lists and removes a model's attestation rule,
// and refuses a rule that is not one with a usage error.
func TestAttestCommands(t *testing.T) {
	dir := t.TempDir()
	admin := func(args ...string) (int, string, string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), &env{stdout: &stdout, stderr: &stderr}, append([]string{"admin", "--data", dir, "attest"}, args...))
		return code, stdout.String(), stderr.String()
	}
	if code, out, errOut := admin("set", "Acme TV", "required"); code != 0 || !strings.Contains(out, `"Acme TV": required`) {
		t.Fatalf("attest set: exit %d %q %q", code, out, errOut)
	}
	if code, out, _ := admin("list"); code != 0 || !strings.Contains(out, `"Acme TV"  required  cli`) {
		t.Errorf("attest list: exit %d\n%s", code, out)
	}
	if code, _, errOut := admin("set", "Acme TV", "sometimes"); code != 2 || !strings.Contains(errOut, "want required, optional, off or default") {
		t.Errorf("attest set with a bad rule: exit %d %q", code, errOut)
	}
	if code, _, errOut := admin("set", "Acme TV", "default"); code != 0 {
		t.Fatalf("attest set default: exit %d %q", code, errOut)
	}
	if _, out, _ := admin("list"); !strings.Contains(out, "no rules") {
		t.Errorf("attest list after default: %q", out)
	}
	if code, out, errOut := admin("set", "--help"); code != 0 || !strings.Contains(out+errOut, "device-attest-01") {
		t.Errorf("attest set --help: exit %d %q", code, out+errOut)
	}
}
