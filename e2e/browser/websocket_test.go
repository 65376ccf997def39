package browser

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/chromedp/cdproto/browser"
)

// echoResult is what the web app's echo() resolves to.
type echoResult struct {
	Echo  string `json:"echo"`
	Error string `json:"error"`
	Code  int    `json:"code"`
}

// TestWebSocket: the web app opens wss:// to the device and gets its
// message echoed by the device's app behind the agent. Chromium applies
// Local Network Access to WebSockets (since 147), and the agent refuses
// the upgrade from an origin the owner did not grant (browsers apply no
// CORS to WebSockets); ws:// from an HTTPS page is mixed content.
func TestWebSocket(t *testing.T) {
	t.Parallel()
	l := local(t)
	echo := func(t *testing.T, setting browser.PermissionSetting, url string) (echoResult, *netlog) {
		t.Helper()
		tab, log := openWebApp(t, l, setting)
		return eval[echoResult](t, tab, fmt.Sprintf("echo(%s, %s)", strconv.Quote(url), strconv.Quote("hello from the web app"))), log
	}

	t.Run("granted", func(t *testing.T) {
		t.Parallel()
		r, _ := echo(t, browser.PermissionSettingGranted, "wss://"+l.tv.host()+"/ws")
		if r.Echo != "hello from the web app" {
			t.Errorf("echo over wss: %+v", r)
		}
	})
	t.Run("without permission", func(t *testing.T) {
		t.Parallel()
		url := "wss://" + l.tv.host() + "/ws"
		r, log := echo(t, "", url)
		if r.Error == "" || r.Echo != "" {
			t.Errorf("echo over wss without the permission: %+v, want an error", r)
		}
		wantConsole(t, log, fmt.Sprintf("WebSocket connection to '%s' failed: Error in connection establishment: net::ERR_BLOCKED_BY_LOCAL_NETWORK_ACCESS_CHECKS", url))
	})
	t.Run("without owner grant", func(t *testing.T) {
		t.Parallel()
		url := "wss://" + l.nas.host() + "/ws"
		r, log := echo(t, browser.PermissionSettingGranted, url)
		if r.Error == "" || r.Echo != "" {
			t.Errorf("echo over wss without the owner's grant: %+v, want an error", r)
		}
		wantConsole(t, log, fmt.Sprintf("WebSocket connection to '%s' failed: Error during WebSocket handshake: Unexpected response code: 403", url))
	})
	t.Run("ws is mixed content", func(t *testing.T) {
		t.Parallel()
		url := "ws://" + l.tv.host() + "/ws"
		r, _ := echo(t, browser.PermissionSettingGranted, url)
		if want := "SecurityError: Failed to construct 'WebSocket': An insecure WebSocket connection may not be initiated from a page loaded over HTTPS."; r.Error != want {
			t.Errorf("ws:// from the HTTPS web app: %+v, want %q", r, want)
		}
	})
}
