package e2e

import (
	"crypto/x509"
	"encoding/pem"
	"html"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestStockRenewalAsTimersRunIt follows "Add a device for a stock ACME
// client" on a machine whose trust store a private mount namespace
// stands in for: it runs the page's `lantls trust install` line, then
// certbot's and lego's lines, then renews each as its timer would, in a
// fresh environment (env -i): certbot.service's ExecStart from Debian's
// unit, lego's from the unit the page shows. Before the root went into
// the system store, the first line worked and every renewal failed with
// "certificate verify failed", its trust having been a variable on that
// first line alone.
func TestStockRenewalAsTimersRunIt(t *testing.T) {
	t.Parallel()
	requireTool(t, "certbot", "certbot")
	requireTool(t, "lego", "lego")
	lab := newTrustLab(t)
	iss := startIssuer(t)
	ui := loginOwner(t, iss, "nasowner")

	certbotRenew := "/usr/bin/certbot -q renew --no-random-sleep-on-renew"
	if unit, err := os.ReadFile("/lib/systemd/system/certbot.service"); err == nil {
		if m := regexp.MustCompile(`(?m)^ExecStart=(.*)$`).FindSubmatch(unit); m != nil {
			certbotRenew = string(m[1])
		}
	}
	for _, tc := range []struct {
		client string
		// script gets the certificate with the page's lines and renews it
		// as the timer would; dir keeps the client's state.
		script func(blocks map[string]string, dir string) string
		// certs are the files of the first and the renewed certificate.
		certs func(dir string) (first, renewed string)
	}{
		{"certbot", func(b map[string]string, dir string) string {
			state := " --config-dir " + dir + "/c --work-dir " + dir + "/w --logs-dir " + dir + "/l"
			return b["certbot"] + state + "\n" +
				"env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin " + certbotRenew + " --force-renewal" + state
		}, func(dir string) (string, string) {
			m, _ := filepath.Glob(filepath.Join(dir, "c", "archive", "*", "cert1.pem"))
			if len(m) == 0 {
				return "", ""
			}
			return m[0], filepath.Join(filepath.Dir(m[0]), "cert2.pem")
		}},
		{"lego", func(b map[string]string, dir string) string {
			env, exec := unitCommand(t, b["lego.service"])
			// renew --days 30 waits for the last 30 days; a day-old
			// certificate needs a wider window to renew now.
			exec = strings.Replace(exec, "--days 30", "--days 9999", 1)
			return strings.ReplaceAll(b["lego"]+"\n"+
				"for f in "+dir+"/lego/certificates/*.crt; do case $f in *.issuer.crt) ;; *) cp \"$f\" "+dir+"/first.pem ;; esac; done\n"+
				"env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "+env+" "+exec, "/etc/lego", dir+"/lego")
		}, func(dir string) (string, string) {
			m, _ := filepath.Glob(filepath.Join(dir, "lego", "certificates", "*.crt"))
			var renewed string
			for _, f := range m {
				if !strings.Contains(f, "issuer") {
					renewed = f
				}
			}
			return filepath.Join(dir, "first.pem"), renewed
		}},
	} {
		t.Run(tc.client, func(t *testing.T) {
			page := ui.get(t, "/devices/new")
			page = ui.post(t, "/devices/new", page, url.Values{"name": {tc.client + " box"}})
			b := codeBlocks(t, page)
			dir := t.TempDir()
			script := "set -e\nexport PATH=" + filepath.Dir(lantlsBin) + ":$PATH HOME=" + lab.home + "\n" +
				b["trust"] + "\n" + tc.script(b, dir)
			if r := lab.shell(t, script); r.code != 0 {
				t.Fatalf("the page's lines, then the renewal as the timer runs it:\n%s", r)
			}
			first, renewed := tc.certs(dir)
			a, c := readLeaf(t, first), readLeaf(t, renewed)
			if a.SerialNumber.Cmp(c.SerialNumber) == 0 {
				t.Errorf("the renewal left the certificate as it was (serial %x)", a.SerialNumber)
			}
		})
	}
}

// codeBlocks returns the <pre><code> blocks of a stock device's page by
// what they hold: trust (lantls trust install), certbot, lego and
// lego.service.
func codeBlocks(t *testing.T, page string) map[string]string {
	t.Helper()
	blocks := map[string]string{}
	for _, m := range regexp.MustCompile(`(?s)<pre[^>]*><code>(.*?)</code></pre>`).FindAllStringSubmatch(page, -1) {
		text := html.UnescapeString(m[1])
		switch {
		case strings.HasPrefix(text, "lantls trust install "):
			blocks["trust"] = text
		case strings.HasPrefix(text, "certbot certonly "):
			blocks["certbot"] = text
		case strings.HasPrefix(text, "EXEC_PATH=/bin/true lego "):
			blocks["lego"] = text
		case strings.Contains(text, "ExecStart=/usr/bin/lego "):
			blocks["lego.service"] = text
		}
	}
	for _, k := range []string{"trust", "certbot", "lego", "lego.service"} {
		if blocks[k] == "" {
			t.Fatalf("the page shows no %s block:\n%s", k, tail(page, 60))
		}
	}
	return blocks
}

// unitCommand returns a systemd service's Environment= settings, as
// shell words, and its ExecStart= command line.
func unitCommand(t *testing.T, unit string) (env, exec string) {
	t.Helper()
	var envs []string
	for _, line := range strings.Split(unit, "\n") {
		if v, ok := strings.CutPrefix(line, "Environment="); ok {
			envs = append(envs, "'"+v+"'")
		}
		if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
			// systemd passes words as they are; the shell must not glob.
			exec = strings.ReplaceAll(v, " *.", " '*.'")
			exec = regexp.MustCompile(`'\*\.'(\S+)`).ReplaceAllString(exec, "'*.$1'")
		}
	}
	if exec == "" {
		t.Fatalf("no ExecStart in the unit:\n%s", unit)
	}
	return strings.Join(envs, " "), exec
}

func readLeaf(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s holds no PEM", file)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// shell runs script with sh in a private mount namespace with the lab's
// directories over the system store's, as trust does for one command.
func (l *trustLab) shell(t *testing.T, script string) result {
	t.Helper()
	unshare := []string{"--mount", "--propagation", "private"}
	if os.Geteuid() != 0 {
		unshare = append(unshare, "--map-root-user")
	}
	mounts := `mount --bind "$1" /usr/local/share/ca-certificates && mount --bind "$2" /etc/ssl/certs &&
		mount --bind "$3" /etc/ca-certificates/update.d && shift 3 && exec sh -c "$1"`
	return run(t, nil, "unshare", append(unshare, "sh", "-c", mounts, "sh", l.anchors, l.certs, l.hooks, script)...)
}
