// Package browsertest runs a real headless Chromium for tests: a fresh
// profile whose NSS database trusts only the root a test gives it, host
// names mapped to loopback, driven over CDP with chromedp. Tests that use
// it skip when Chromium or certutil is missing, unless LANTLS_E2E_REQUIRE
// is set (as scripts/test does), where they fail.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Options configure a browser.
type Options struct {
	// RootPEM is the only certificate authority the browser trusts
	// besides none: the profile's NSS database holds it alone.
	RootPEM []byte
	// Home is a home directory the caller prepared, whose ~/.pki/nssdb
	// Chromium reads for its trust anchors (e.g. filled by `lantls trust
	// install`); empty means one in Launch's dir. Leave RootPEM nil with
	// it.
	Home string
	// HostResolverRules maps names to addresses, in Chromium's
	// --host-resolver-rules syntax, e.g. "MAP *.lan.test 127.0.0.1". Every
	// name not mapped fails to resolve, so a test never reaches the
	// network.
	HostResolverRules string
	// Width and Height are the window size; 0 means 1200 by 900.
	Width, Height int
	// Flags are more Chromium flags, name to value (true for a bare flag).
	Flags map[string]any
	// Timeout bounds the browser's whole life; 0 means 2 minutes.
	Timeout time.Duration
}

// ExecPath returns the Chromium binary: Debian's real binary rather than
// its wrapper script, else chromium on PATH; "" if there is none.
func ExecPath() string {
	if _, err := os.Stat("/usr/lib/chromium/chromium"); err == nil {
		return "/usr/lib/chromium/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Require skips t when Chromium or certutil is missing, or fails it when
// LANTLS_E2E_REQUIRE is set.
func Require(t testing.TB) {
	t.Helper()
	var missing []string
	if ExecPath() == "" {
		missing = append(missing, "chromium")
	}
	if _, err := exec.LookPath("certutil"); err != nil {
		missing = append(missing, "certutil (libnss3-tools)")
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("needs %s: apt-get install chromium libnss3-tools", strings.Join(missing, " and "))
	if os.Getenv("LANTLS_E2E_REQUIRE") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Start launches Chromium with a fresh profile and returns a chromedp
// context for one tab. Cleanup closes the browser.
func Start(t testing.TB, o Options) context.Context {
	t.Helper()
	Require(t)
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Minute
	}
	b, err := Launch(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b.ctx
}

// Browser is a running Chromium that several tests share, each in tabs of
// its own (NewTab). Make one with Launch; Close ends it.
type Browser struct {
	ctx   context.Context // its first tab's
	close func()
}

// Launch starts Chromium with a fresh profile in dir, which must be empty
// or missing, for a browser that outlives one test, such as one a
// package's tests share. A zero o.Timeout means no bound: Close ends it.
// The caller checks Require first.
func Launch(dir string, o Options) (*Browser, error) {
	if o.Width == 0 {
		o.Width, o.Height = 1200, 900
	}
	home := filepath.Join(dir, "home")
	if o.Home != "" {
		home = o.Home
	}
	profile := filepath.Join(dir, "profile")
	if o.RootPEM != nil {
		if err := trustOnly(home, o.RootPEM); err != nil {
			return nil, err
		}
	}
	rules := "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
	if o.HostResolverRules != "" {
		rules = o.HostResolverRules + ", " + rules
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(ExecPath()),
		chromedp.UserDataDir(profile),
		chromedp.Env("HOME=" + home),
		chromedp.WindowSize(o.Width, o.Height),
		chromedp.Flag("headless", "new"),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		chromedp.Flag("host-resolver-rules", rules),
	}
	for k, v := range o.Flags {
		opts = append(opts, chromedp.Flag(k, v))
	}
	ctx, cancelTimeout := context.Background(), context.CancelFunc(func() {})
	if o.Timeout > 0 {
		ctx, cancelTimeout = context.WithTimeout(ctx, o.Timeout)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithErrorf(func(string, ...any) {}))
	b := &Browser{ctx: bctx, close: func() {
		cancelBrowser()
		cancelAlloc()
		cancelTimeout()
	}}
	// Start the browser now, so a broken install fails here, clearly.
	if err := chromedp.Do(bctx); err != nil {
		b.Close()
		return nil, fmt.Errorf("start chromium: %w", err)
	}
	return b, nil
}

// NewTab opens a tab in a new browser context, closed when t ends: its
// permissions, cookies, caches and connections are its own, as in a
// fresh incognito window.
func (b *Browser) NewTab(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return ctx
}

// Close ends the browser.
func (b *Browser) Close() { b.close() }

// trustOnly makes home's NSS database, which Chromium on Linux reads for
// its trust anchors, and puts root in it as the only trusted CA.
func trustOnly(home string, root []byte) error {
	db := filepath.Join(home, ".pki", "nssdb")
	if err := os.MkdirAll(db, 0o700); err != nil {
		return err
	}
	rootFile := filepath.Join(home, "root.pem")
	if err := os.WriteFile(rootFile, root, 0o600); err != nil {
		return err
	}
	for _, args := range [][]string{
		{"-d", "sql:" + db, "-N", "--empty-password"},
		{"-d", "sql:" + db, "-A", "-t", "C,,", "-n", "lantls test root", "-i", rootFile},
	} {
		if out, err := exec.Command("certutil", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("certutil %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}
