package browser

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
)

// The Local Network Access permission: "local-network" (a public page
// reaching the local address space) and "loopback-network" since
// Chromium 145 split "local-network-access". Chromium 156 still takes the
// old name in Browser.setPermission but no longer grants anything with
// it, so the tests use the new one.
const localNetwork = "local-network"

// callResult is what the web app's call() resolves to.
type callResult struct {
	Status int    `json:"status"`
	Body   string `json:"body"`
	Error  string `json:"error"`
}

// fetchFrom runs the web app's call(url, init) in tab; init is a
// JavaScript object literal.
func fetchFrom(t *testing.T, tab context.Context, url, init string) callResult {
	t.Helper()
	return eval[callResult](t, tab, fmt.Sprintf("call(%s, %s)", strconv.Quote(url), init))
}

// getLocal and putLocal are the two kinds of request a web app makes: a
// simple GET, and a PUT of JSON that needs a CORS preflight. Both say
// where they are going (targetAddressSpace), as Local Network Access asks.
const (
	getLocal = `{targetAddressSpace: "local"}`
	putLocal = `{method: "PUT", headers: {"Content-Type": "application/json"}, body: '{"level": 7}', targetAddressSpace: "local"}`
)

// openWebApp opens the web app in a new tab, with the Local Network
// Access permission set to setting for its origin ("" leaves it unset:
// headless Chromium denies the prompt).
func openWebApp(t *testing.T, l *lab, setting browser.PermissionSetting) (context.Context, *netlog) {
	t.Helper()
	tab := l.browser.NewTab(t)
	log := watch(t, tab)
	if setting != "" {
		grant(t, tab, localNetwork, l.app.origin, setting)
	}
	if err := navigate(tab, l.app.origin+"/"); err != nil {
		t.Fatalf("open the web app: %v", err)
	}
	return tab, log
}

// TestLocalNetworkAccessGranted: a web app on a public HTTPS origin calls
// the device's API. The person granted the browser's Local Network Access
// permission to the app and the owner granted the app's origin to the
// device, so the agent's CORS answers let both a simple GET and a
// preflighted PUT through.
func TestLocalNetworkAccessGranted(t *testing.T) {
	t.Parallel()
	l := local(t)
	tab, log := openWebApp(t, l, browser.PermissionSettingGranted)

	get := l.tv.origin + "/api/status"
	r := fetchFrom(t, tab, get, getLocal)
	if r.Status != 200 || !strings.Contains(r.Body, `"model":"Living-room TV"`) {
		t.Errorf("GET %s from the web app: %+v", get, r)
	}
	if resp := log.response(get); resp == nil || resp.Response.Headers["access-control-allow-origin"] != l.app.origin {
		t.Errorf("response to GET %s lacks Access-Control-Allow-Origin: %s", get, l.app.origin)
	}
	put := l.tv.origin + "/api/volume"
	r = fetchFrom(t, tab, put, putLocal)
	if r.Status != 200 || !strings.Contains(r.Body, `"volume":7`) {
		t.Errorf("PUT %s from the web app: %+v", put, r)
	}
	screenshot(t, tab, "web-app-calls-device")
}

// TestLocalNetworkAccessWithoutPermission: without the browser's
// permission Chromium refuses the request before it reaches the device,
// whatever the owner granted, and says so: a CORS error of kind
// LocalNetworkAccessPermissionDenied. Unset (headless Chromium denies the
// prompt) and denied behave the same.
func TestLocalNetworkAccessWithoutPermission(t *testing.T) {
	t.Parallel()
	l := local(t)
	for _, setting := range []browser.PermissionSetting{"", browser.PermissionSettingDenied} {
		name := string(setting)
		if name == "" {
			name = "prompt"
		}
		t.Run(name, func(t *testing.T) {
			tab, log := openWebApp(t, l, setting)
			for _, init := range []string{getLocal, putLocal} {
				url := l.tv.origin + "/api/status"
				if init == putLocal {
					url = l.tv.origin + "/api/volume"
				}
				r := fetchFrom(t, tab, url, init)
				if r.Error != "TypeError: Failed to fetch" {
					t.Errorf("fetch %s without the permission: %+v, want TypeError: Failed to fetch", url, r)
				}
				wantFailure(t, log, url, "net::ERR_FAILED", network.CorsErrorLocalNetworkAccessPermissionDenied)
				wantConsole(t, log, fmt.Sprintf("Access to fetch at '%s' from origin '%s' has been blocked by CORS policy: Permission was denied for this request to access the `local` address space.", url, l.app.origin))
			}
		})
	}
}

// TestLocalNetworkAccessWithoutOwnerGrant: with the browser's permission
// but without the owner's grant of the app's origin, the device's agent
// gives no CORS answer: Chromium blocks the GET's response
// (MissingAllowOriginHeader) and the PUT's preflight
// (PreflightMissingAllowOriginHeader: the agent answers it 403 without
// CORS headers).
func TestLocalNetworkAccessWithoutOwnerGrant(t *testing.T) {
	t.Parallel()
	l := local(t)
	tab, log := openWebApp(t, l, browser.PermissionSettingGranted)
	cases := []struct {
		path, init string
		cors       network.CorsError
		console    string
	}{
		{"/api/status", getLocal, network.CorsErrorMissingAllowOriginHeader,
			"No 'Access-Control-Allow-Origin' header is present on the requested resource."},
		{"/api/volume", putLocal, network.CorsErrorPreflightMissingAllowOriginHeader,
			"Response to preflight request doesn't pass access control check: No 'Access-Control-Allow-Origin' header is present on the requested resource."},
	}
	for _, tc := range cases {
		url := l.nas.origin + tc.path
		r := fetchFrom(t, tab, url, tc.init)
		if r.Error != "TypeError: Failed to fetch" {
			t.Errorf("fetch %s without the owner's grant: %+v, want TypeError: Failed to fetch", url, r)
		}
		wantFailure(t, log, url, "net::ERR_FAILED", tc.cors)
		wantConsole(t, log, fmt.Sprintf("Access to fetch at '%s' from origin '%s' has been blocked by CORS policy: %s", url, l.app.origin, tc.console))
	}
}

// wantFailure checks how Chromium reports the failed load of url.
func wantFailure(t *testing.T, log *netlog, url, errorText string, cors network.CorsError) {
	t.Helper()
	f := log.failure(t, url)
	var got network.CorsError
	if f.CorsErrorStatus != nil {
		got = f.CorsErrorStatus.CorsError
	}
	if f.ErrorText != errorText || got != cors {
		t.Errorf("Chromium reports the load of %s failed with %s (CORS error %q), want %s (%q)", url, f.ErrorText, got, errorText, cors)
	}
}

// wantConsole checks that Chromium logged line to the page's console.
func wantConsole(t *testing.T, log *netlog, line string) {
	t.Helper()
	waitFor(t, 10*time.Second, "console message "+line, func() bool {
		return slices.Contains(log.consoleLines(), line)
	})
}
