package browser

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's Chromium binary itself; /usr/bin/chromium is a
// shell wrapper that adds nothing a test wants.
const chromiumPath = "/usr/lib/chromium/chromium"

// chromium is one Chromium process with a fresh profile whose NSS
// database trusts only the roots it was given. Each test opens its own
// browser context in it (tab), so permissions, cookies and connections
// never leak between tests.
type chromium struct {
	ctx    context.Context // the browser's; tabs derive from it
	cancel func()
	dir    string
}

// chromiumOptions configure startChromium.
type chromiumOptions struct {
	// Roots are PEM certificates the profile trusts as CAs for TLS
	// servers (certutil -t "C,,"); nothing else is added.
	Roots [][]byte
	// Zone is resolved by mapping *.Zone to ZoneAddr
	// (--host-resolver-rules); every other name fails to resolve.
	Zone, ZoneAddr string
	// AddressSpaces maps "ip:port" to a Local Network Access address
	// space ("public", "local", "loopback") for
	// --ip-address-space-overrides.
	AddressSpaces map[string]string
}

// haveChromium skips the test when Chromium or certutil is missing, or
// fails it under LANTLS_E2E_REQUIRE=1 (as scripts/test sets).
func haveChromium(t testing.TB) {
	t.Helper()
	var missing []string
	if _, err := os.Stat(chromiumPath); err != nil {
		missing = append(missing, "chromium")
	}
	if _, err := exec.LookPath("certutil"); err != nil {
		missing = append(missing, "libnss3-tools")
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("browser tests need %s: run scripts/test, which installs them, or apt-get install %s",
		strings.Join(missing, " and "), strings.Join(missing, " "))
	if os.Getenv("LANTLS_E2E_REQUIRE") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// startChromium makes a profile in a new temporary directory, trusts
// opts.Roots in its NSS database and starts headless Chromium on it.
func startChromium(opts chromiumOptions) (_ *chromium, err error) {
	dir, err := os.MkdirTemp("", "lantls-chromium-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	home := filepath.Join(dir, "home")
	if err := trustRoots(home, opts.Roots); err != nil {
		return nil, err
	}
	rules := fmt.Sprintf("MAP *.%s %s, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", opts.Zone, opts.ZoneAddr)
	var spaces []string
	for ep, space := range opts.AddressSpaces {
		spaces = append(spaces, ep+"="+space)
	}
	args := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.Env("HOME=" + home),
		chromedp.Flag("headless", "new"),
		chromedp.NoSandbox,
		chromedp.Flag("host-resolver-rules", rules),
		chromedp.WindowSize(1100, 800),
	}
	if len(spaces) > 0 {
		args = append(args, chromedp.Flag("ip-address-space-overrides", strings.Join(spaces, ",")))
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		append(chromedp.DefaultExecAllocatorOptions[:], args...)...)
	ctx, cancelBrowser := chromedp.NewContext(allocCtx)
	c := &chromium{ctx: ctx, dir: dir, cancel: func() {
		cancelBrowser()
		cancelAlloc()
		os.RemoveAll(dir)
	}}
	// The first run starts the browser, which lives as long as ctx: no
	// timeout on it.
	if err := chromedp.Do(ctx); err != nil {
		c.cancel()
		return nil, fmt.Errorf("start chromium: %w", err)
	}
	return c, nil
}

// trustRoots makes the NSS database Chromium reads under home and adds
// each root as a trusted TLS CA.
func trustRoots(home string, roots [][]byte) error {
	db := filepath.Join(home, ".pki", "nssdb")
	if err := os.MkdirAll(db, 0o700); err != nil {
		return err
	}
	certutil := func(args ...string) error {
		cmd := exec.Command("certutil", append([]string{"-d", "sql:" + db}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+home)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("certutil %s: %w\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := certutil("-N", "--empty-password"); err != nil {
		return err
	}
	for i, pem := range roots {
		f := filepath.Join(home, fmt.Sprintf("root%d.pem", i))
		if err := os.WriteFile(f, pem, 0o600); err != nil {
			return err
		}
		if err := certutil("-A", "-t", "C,,", "-n", fmt.Sprintf("test root %d", i), "-i", f); err != nil {
			return err
		}
	}
	return nil
}

func (c *chromium) close() { c.cancel() }

// tab opens a new browser context with one page, closed when the test
// ends. Its permissions and connections are its own.
func (c *chromium) tab(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(c.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open tab: %v", err)
	}
	return ctx
}

// grant sets the permission name ("local-network-access",
// "local-network", "loopback-network") for origin in tab's browser
// context, as a person answering the prompt would.
func grant(t *testing.T, tab context.Context, name, origin string, setting browser.PermissionSetting) {
	t.Helper()
	id := chromedp.FromContext(tab).BrowserContextID
	_, err := chromedp.CallBrowser(tab, browser.SetPermission, browser.SetPermissionParams{
		Permission:       &browser.PermissionDescriptor{Name: name},
		Setting:          setting,
		Origin:           origin,
		BrowserContextID: id,
	})
	if err != nil {
		t.Fatalf("set permission %s=%s for %s: %v", name, setting, origin, err)
	}
}

// navigate loads url in tab and waits for the page's load event; the
// error is Chromium's (e.g. "page load error net::ERR_CERT_COMMON_NAME_INVALID").
func navigate(tab context.Context, url string) error {
	ctx, cancel := context.WithTimeout(tab, time.Minute)
	defer cancel()
	return chromedp.Do(ctx, chromedp.Navigate(url))
}

// eval evaluates a JavaScript expression in tab's page, awaiting it if it
// is a promise, and decodes its JSON value.
func eval[T any](t *testing.T, tab context.Context, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// screenshot saves the tab's page as PNG under screenshotDir(t) and
// returns the file's path.
func screenshot(t *testing.T, tab context.Context, name string) string {
	t.Helper()
	png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(screenshotDir(t), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
	return path
}

// screenshotDir is LANTLS_SCREENSHOTS when set (created if missing), else
// a directory removed with the test.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("LANTLS_SCREENSHOTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// waitFor polls cond every 50 ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// netlog records what Chromium reports about a tab's requests through
// CDP: responses (with their TLS security details), failed loads (with
// the net error, CORS error and blocked reason) and console messages.
type netlog struct {
	mu        sync.Mutex
	urls      map[network.RequestID]string
	responses []*network.EventResponseReceived
	failures  map[string]*network.EventLoadingFailed // by URL
	console   []string
}

// watch starts recording tab's network events and console messages.
func watch(t *testing.T, tab context.Context) *netlog {
	t.Helper()
	n := &netlog{urls: map[network.RequestID]string{}, failures: map[string]*network.EventLoadingFailed{}}
	err := chromedp.Listen(tab, func(ev any) {
		n.mu.Lock()
		defer n.mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			n.urls[ev.RequestID] = ev.Request.URL
		case *network.EventResponseReceived:
			n.responses = append(n.responses, ev)
		case *network.EventLoadingFailed:
			n.failures[n.urls[ev.RequestID]] = ev
		case *cdplog.EventEntryAdded:
			n.console = append(n.console, ev.Entry.Text)
		}
	})
	if err == nil {
		_, err = chromedp.Call(tab, network.Enable, network.EnableParams{})
	}
	if err == nil {
		_, err = chromedp.Call(tab, cdplog.Enable, cdp.Empty{})
	}
	if err != nil {
		t.Fatalf("watch the tab's network events: %v", err)
	}
	return n
}

// failure returns how the load of url failed, waiting for Chromium to say.
func (n *netlog) failure(t *testing.T, url string) *network.EventLoadingFailed {
	t.Helper()
	var f *network.EventLoadingFailed
	waitFor(t, 10*time.Second, "Chromium to report the failure of "+url, func() bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		f = n.failures[url]
		return f != nil
	})
	return f
}

// response returns the last response to url.
func (n *netlog) response(url string) *network.EventResponseReceived {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, r := range slices.Backward(n.responses) {
		if r.Response.URL == url {
			return r
		}
	}
	return nil
}

// consoleLines returns the console messages so far.
func (n *netlog) consoleLines() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.console)
}
