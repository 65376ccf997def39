package browser

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/lantls/lantls/internal/testwait"
)

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

// screenshotDir is docs/screenshots when LANTLS_SCREENSHOTS is set (as
// for the owner UI's screenshots), else a directory removed with the
// test: the pages are rendered and captured either way.
func screenshotDir(t *testing.T) string {
	t.Helper()
	if os.Getenv("LANTLS_SCREENSHOTS") != "" {
		return filepath.Join("..", "..", "docs", "screenshots")
	}
	return t.TempDir()
}

// waitFor checks cond until it holds, or fails t after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testwait.For(t, timeout, what, cond)
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
	return n.last(func(r *network.Response) bool { return r.URL == url })
}

// last returns the last response that match accepts.
func (n *netlog) last(match func(*network.Response) bool) *network.EventResponseReceived {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, r := range slices.Backward(n.responses) {
		if match(r.Response) {
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
