package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"golang.org/x/crypto/acme"
)

func TestHelp(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want []string // words the usage must mention
	}{
		{[]string{"--help"}, []string{"issuer", "admin", "demo"}},
		{[]string{"issuer", "--help"}, []string{"data", "zone", "listen", "hostname"}},
		{[]string{"admin", "device", "add", "--help"}, []string{"owner", "name", "json", "count"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			r := lantls(t, tc.args...)
			if r.code != 0 {
				t.Fatalf("help should exit 0:\n%s", r)
			}
			out := strings.ToLower(r.output())
			if !strings.Contains(out, "usage") {
				t.Errorf("help does not say \"usage\":\n%s", r)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("help does not mention %q:\n%s", w, r)
				}
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	for _, tc := range []struct {
		name    string
		args    []string
		mention string // the culprit the message must name
	}{
		{"unknown subcommand", []string{"frobnicate"}, "frobnicate"},
		{"unknown admin subcommand", []string{"admin", "--data", data, "frobnicate"}, "frobnicate"},
		{"unknown device subcommand", []string{"admin", "--data", data, "device", "frobnicate"}, "frobnicate"},
		{"bad issuer flag", []string{"issuer", "--no-such-flag"}, "no-such-flag"},
		{"bad device add flag", []string{"admin", "--data", data, "device", "add", "--no-such-flag"}, "no-such-flag"},
		{"device add without owner", []string{"admin", "--data", data, "device", "add", "--name", "TV"}, "--owner"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := lantls(t, tc.args...)
			requireUsageError(t, r, tc.mention)
		})
	}
}

// requireUsageError checks that a command failed with a message that names
// what was wrong and says what to do, without a Go panic.
func requireUsageError(t *testing.T, r result, mention string) {
	t.Helper()
	if r.code == 0 {
		t.Fatalf("want a non-zero exit:\n%s", r)
	}
	if r.code < 0 {
		t.Fatalf("did not exit normally:\n%s", r)
	}
	out := r.output()
	if !strings.Contains(out, mention) {
		t.Errorf("message does not name %q:\n%s", mention, r)
	}
	if !containsAny(strings.ToLower(out), "help", "usage", "e.g.", "use ") {
		t.Errorf("message does not say what to do (no pointer to help, usage, an example or what to use):\n%s", r)
	}
	if strings.Contains(out, "goroutine ") || strings.Contains(out, "panic:") {
		t.Errorf("command panicked:\n%s", r)
	}
}

func TestDemoCheck(t *testing.T) {
	t.Parallel()
	r := lantls(t, "demo", "--check")
	if r.code != 0 {
		t.Fatalf("demo --check failed:\n%s", r)
	}
	if strings.TrimSpace(r.stdout) == "" {
		t.Errorf("demo --check printed no summary on stdout:\n%s", r)
	}
	t.Logf("demo --check took %s:\n%s", r.elapsed.Round(1e6), r.stdout)
}

// listedDevice is the part of a `device list --json` line the tests read.
type listedDevice struct {
	Label  string `json:"label"`
	Owner  string `json:"owner"`
	Name   string `json:"name"`
	Status string `json:"status"`
}

func listDevices(t *testing.T, iss *issuer) map[string]listedDevice {
	t.Helper()
	r := iss.admin(t, "device", "list", "--json")
	if r.code != 0 {
		t.Fatalf("device list --json failed:\n%s", r)
	}
	devs := map[string]listedDevice{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if line == "" {
			continue
		}
		var d listedDevice
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("device list --json: line %q: %v\n%s", line, err, r)
		}
		devs[d.Label] = d
	}
	return devs
}

func TestAdminDevices(t *testing.T) {
	t.Parallel()
	iss := startIssuer(t)
	devs := addDevices(t, iss, 3)
	seen := map[string]bool{}
	for _, d := range devs {
		for _, v := range []string{d.ID, d.Label, d.EABKID, d.EABHMACKey} {
			if seen[v] {
				t.Errorf("device add --count 3 repeated %q", v)
			}
			seen[v] = true
		}
	}

	listed := listDevices(t, iss)
	text := iss.admin(t, "device", "list")
	if text.code != 0 {
		t.Fatalf("device list failed:\n%s", text)
	}
	for _, d := range devs {
		l, ok := listed[d.Label]
		if !ok {
			t.Errorf("device list --json lacks %s", d.Label)
		} else if l.Owner != d.Owner || l.Name != d.Name {
			t.Errorf("device list --json has %+v for %s, want owner %q name %q", l, d.Label, d.Owner, d.Name)
		}
		if !strings.Contains(text.stdout, d.Label) {
			t.Errorf("device list lacks %s:\n%s", d.Label, text)
		}
		if strings.Contains(text.stdout+text.stderr, d.EABHMACKey) {
			t.Errorf("device list shows the secret EAB key of %s", d.Label)
		}
	}

	t.Run("EAB credentials are usable as arguments", func(t *testing.T) {
		// certbot (argparse) reads "--eab-kid -x..." as a missing value,
		// so the printed certbot command fails for a kid or MAC key that
		// starts with "-": one device in 32 if both were plain random
		// base64url. 200 devices find that with probability 99.8%.
		for _, d := range addDevices(t, iss, 200) {
			for field, v := range map[string]string{"eab_kid": d.EABKID, "eab_hmac_key": d.EABHMACKey} {
				if strings.HasPrefix(v, "-") {
					t.Errorf("device %s: %s %q starts with \"-\": certbot takes it for a flag", d.Label, field, v)
				}
			}
		}
	})

	t.Run("revoke unknown label", func(t *testing.T) {
		unknown := strings.Repeat("a", 26)
		r := iss.admin(t, "device", "revoke", unknown)
		if r.code == 0 {
			t.Fatalf("revoking an unknown device succeeded:\n%s", r)
		}
		if !strings.Contains(r.output(), unknown) {
			t.Errorf("message does not name the label:\n%s", r)
		}
	})
}

func TestDeviceRevoke(t *testing.T) {
	t.Parallel()
	iss := startIssuer(t)
	devs := addDevices(t, iss, 2)
	dev, other := devs[0], devs[1]
	ctx := acmeContext(t)
	cl := registerDevice(t, ctx, iss, dev)
	cert := issue(t, ctx, cl, dev.Names...)
	otherCl := registerDevice(t, ctx, iss, other)
	otherCert := issue(t, ctx, otherCl, other.Names...)

	if r := iss.admin(t, "device", "revoke", dev.Label); r.code != 0 {
		t.Fatalf("device revoke failed:\n%s", r)
	}
	requireRevoked(t, iss, cert.chain, reasonCessationOfOperation)
	requireNotRevoked(t, iss, otherCert.chain)

	_, err := cl.AuthorizeOrder(ctx, acme.DomainIDs(dev.Names...))
	requireProblem(t, err, "unauthorized", "newOrder by the account of a revoked device")

	if l, ok := listDevices(t, iss)[dev.Label]; !ok {
		t.Errorf("device list --json lacks the revoked device %s", dev.Label)
	} else if l.Status != "revoked" {
		t.Errorf("device list --json shows revoked device %s with status %q, want revoked", dev.Label, l.Status)
	}

	// The other device is untouched.
	issue(t, ctx, otherCl, other.Names...)
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
