package spec_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/lantls/lantls/agent"
	"github.com/lantls/lantls/agent/onboard"
	"github.com/lantls/lantls/agent/proxy"
	"github.com/lantls/lantls/docs/spec"
)

// TestBrowserDeviceExamples makes every exchange that browser-device.md
// shows, against the agent's proxy in front of a small device UI.
func TestBrowserDeviceExamples(t *testing.T) {
	ui := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A device UI that sends its own CORS headers: the proxy must
		// drop them.
		w.Header().Set("Access-Control-Allow-Origin", "*")
		fmt.Fprintln(w, "ok")
	}))
	t.Cleanup(ui.Close)
	upstream, _ := url.Parse(ui.URL)
	a, err := agent.New(agent.Config{Issuer: "https://issuer.lan.test", Storage: agent.DirStorage(t.TempDir()), Hostname: "tv-living-room"})
	if err != nil {
		t.Fatal(err)
	}
	dev := httptest.NewServer(proxy.New(upstream, []string{"https://app.example"}, a))
	t.Cleanup(dev.Close)

	rec := &spec.Recorder{Next: http.DefaultTransport}
	hc := &http.Client{Transport: rec}
	sub := &spec.Subst{}
	got := map[string]string{}
	const host = "192-168-1-20.<label>.lan.test"
	preflight := func(name, origin string, want int) {
		t.Helper()
		req, _ := http.NewRequest("OPTIONS", dev.URL+"/api/volume", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "PUT")
		req.Header.Set("Access-Control-Request-Headers", "content-type")
		req.Header.Set("Access-Control-Request-Private-Network", "true")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s: %s, want %d", name, resp.Status, want)
		}
		got[name] = sub.Apply(spec.Render(rec.Last("OPTIONS", "/api/volume"), host))
	}
	preflight("agent-preflight-granted", "https://app.example", http.StatusNoContent)
	preflight("agent-preflight-refused", "https://evil.example", http.StatusForbidden)

	// The onboarding page, asked by a name that is not the device's (a
	// DNS-rebinding page's, say): 421 and no code.
	page := httptest.NewServer(onboard.Handler(a, onboard.Config{}))
	t.Cleanup(page.Close)
	req, _ := http.NewRequest("GET", page.URL+"/", nil)
	req.Host = "rebind.example"
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("onboarding page by another name: %s, want 421", resp.Status)
	}
	got["agent-onboarding-misdirected"] = sub.Apply(spec.Render(rec.Last("GET", "/"), "rebind.example"))

	msgs, err := spec.Check("browser-device.md", got, *update)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		t.Error(m)
	}
}
