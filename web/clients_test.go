package web_test

import (
	"html"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lantls/lantls/store"
)

// TestPastedConfigsWork pastes the certbot and lego lines that "Add a
// device for a stock ACME client" shows into a shell, as a person would,
// and checks that each gets a certificate. Where the clients keep state
// moves to a temporary directory, and the root they would find in the
// system store comes in their variables; e2e's TestStockRenewalAsTimersRunIt
// puts it in a system store and renews as the timers do.
func TestPastedConfigsWork(t *testing.T) {
	t.Parallel()
	f := start(t)
	f.addUser(t, "alice", store.RoleOwner)
	b := f.browser(t)
	b.login("alice")
	for _, tc := range []struct {
		client string
		// state adds where the client keeps its files.
		state func(line, dir string) string
		cert  string // a file the client writes on success
	}{
		{"certbot", func(line, dir string) string {
			return line + " --config-dir " + dir + "/c --work-dir " + dir + "/w --logs-dir " + dir + "/l"
		}, "c/live/*/fullchain.pem"},
		{"lego", func(line, dir string) string {
			return strings.ReplaceAll(line, "/etc/lego", dir+"/lego")
		}, "lego/certificates/*.crt"},
	} {
		t.Run(tc.client, func(t *testing.T) {
			_, err := exec.LookPath(tc.client)
			if err != nil {
				if os.Getenv("LANTLS_E2E_REQUIRE") != "" {
					t.Fatalf("%s is not installed: apt-get install %s", tc.client, tc.client)
				}
				t.Skipf("%s is not installed", tc.client)
			}
			b.get("/devices/new")
			b.want(b.post("/devices/new", url.Values{"name": {tc.client + " box"}}), 200, "is ready")
			line := block(t, b.last, tc.client)
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "lantls-root.pem"), f.iss.RootPEM(), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("sh", "-c", tc.state(line, dir))
			cmd.Dir = dir
			root := filepath.Join(dir, "lantls-root.pem")
			cmd.Env = append(os.Environ(), "HOME="+dir, "REQUESTS_CA_BUNDLE="+root, "LEGO_CA_CERTIFICATES="+root)
			done := make(chan struct{})
			time.AfterFunc(2*time.Minute, func() {
				select {
				case <-done:
				default:
					cmd.Process.Kill()
				}
			})
			out, err := cmd.CombinedOutput()
			close(done)
			if err != nil {
				t.Fatalf("the pasted %s line failed: %v\n%s\n%s", tc.client, err, line, out)
			}
			if m, _ := filepath.Glob(filepath.Join(dir, tc.cert)); len(m) == 0 {
				t.Errorf("%s wrote no %s:\n%s", tc.client, tc.cert, out)
			}
		})
	}
}

// block returns the text of the <pre> block under the heading name.
func block(t *testing.T, page, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<h2>` + regexp.QuoteMeta(name) + `.*?<pre[^>]*><code>(.*?)</code></pre>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no %s block on the page", name)
	}
	return html.UnescapeString(m[1])
}
