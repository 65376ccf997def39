// Package badinput is a catalogue of hostile requests against a running
// issuer and agent (the real binaries, over loopback): forged and replayed
// JWS, identifiers a device does not own, bad CSRs, oversized and
// malformed bodies and headers, path traversal, CSRF-less and cross-site
// posts, open redirects, session fixation, DNS packets no resolver sends,
// and the onboarding page asked by a foreign name. Each has the status and
// problem type it must get; afterwards the issuer is healthy and its
// database holds exactly what the valid requests made.
package badinput

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"
)

func TestCatalogue(t *testing.T) {
	e := startEnv(t)

	// The valid requests, whose traces the store must hold in the end.
	c := newACME(t, e)
	c.register(t, e.dev)
	finalize := c.order(t, e.dev.Names...)
	orderURL := finalize[:len(finalize)-len("/finalize")]
	dead := newACME(t, e)
	dead.register(t, e.dev2)
	if resp := dead.signed(t, dead.kid, `{"status":"deactivated"}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("deactivate: %s %s", resp.Status, readAll(resp.Body))
	}
	token := e.pairByHand(t)
	remoteCode := e.pairFrom(t, "198.51.100.7")
	b := newBrowser(t, e)
	b.login(t)

	var cases []tcase
	cases = append(cases, acmeCases(e, c, dead, finalize, orderURL)...)
	cases = append(cases, pairingCases(e)...)
	cases = append(cases, deviceAPICases(e, token)...)
	cases = append(cases, webCases(e, b, remoteCode)...)
	cases = append(cases, caCases(e)...)
	cases = append(cases, agentCases(e)...)
	raw := append(rawCases(e), dnsCases(e)...)
	raw = append(raw, loginBurst(e))
	t.Logf("%d hostile requests", len(cases)+len(raw))
	if n := len(cases) + len(raw); n < 100 {
		t.Errorf("the catalogue has %d requests, want at least 100", n)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { check(t, tc.do(t), tc.want) })
	}
	for _, rc := range raw {
		t.Run(rc.name, rc.run)
	}

	// The issuer is still healthy and still serves the valid client.
	resp, err := e.client.Get(e.base + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz after the catalogue: %v %v", resp, err)
	}
	resp.Body.Close()
	if resp := c.signed(t, finalize, `{"csr":"`+csr(t, e.dev.Names)+`"}`); resp.StatusCode != http.StatusOK {
		t.Errorf("the valid finalize after the catalogue: %s %s", resp.Status, readAll(resp.Body))
	}

	// The store holds exactly what the valid requests made.
	e.agent.stop(t)
	e.iss.stop(t)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(e.dir, "lantls.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for table, want := range map[string]int{
		"owners":       2, // alice and bob
		"devices":      3, // two added, one paired by hand
		"eab_keys":     3, // and the paired device's
		"accounts":     2,
		"orders":       3, // the valid one, and the normalized trailing dot and upper case
		"certificates": 1,
		"pairings":     3, // the agent's and the remote one, pending, and the one by hand
		"users":        1,
		"sessions":     2, // the browser's and the session-fixation login's
		"passkeys":     0,
		"device_dns":   0,
	} {
		var n int
		if err := db.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
			t.Errorf("count %s: %v", table, err)
		} else if n != want {
			t.Errorf("%d rows in %s, want %d", n, table, want)
		}
	}
	var deactivated int
	db.QueryRow("SELECT count(*) FROM accounts WHERE status = 'deactivated'").Scan(&deactivated)
	if deactivated != 1 {
		t.Errorf("%d deactivated accounts, want 1", deactivated)
	}
}

// pairByHand pairs a device as RFC 8628 says, approved by the admin CLI,
// and returns its bearer token.
func (e *env) pairByHand(t *testing.T) string {
	t.Helper()
	key := jwkForPairing()
	resp := e.form(t, "/pair/device_authorization", url.Values{"client_id": {"lantls-agent"}, "public_key": {key}, "model": {"m"}, "hostname": {"by-hand"}})
	var ar struct {
		DeviceCode string `json:"device_code"`
		UserCode   string `json:"user_code"`
	}
	body := readAll(resp.Body)
	if resp.StatusCode != 200 || json.Unmarshal(body, &ar) != nil {
		t.Fatalf("device_authorization: %s %s", resp.Status, body)
	}
	e.admin(t, "pair", "approve", ar.UserCode, "--owner", "alice")
	resp = e.form(t, "/pair/token", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {ar.DeviceCode}, "client_id": {"lantls-agent"}})
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	body = readAll(resp.Body)
	if resp.StatusCode != 200 || json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" {
		t.Fatalf("token: %s %s", resp.Status, body)
	}
	return tok.AccessToken
}

// pairFrom starts a pairing as a device at addr behind a trusted proxy
// would, and returns its user code.
func (e *env) pairFrom(t *testing.T, addr string) string {
	t.Helper()
	resp := e.form(t, "/pair/device_authorization", url.Values{"client_id": {"lantls-agent"}, "public_key": {jwkForPairing()},
		"model": {"m"}, "hostname": {"far"}}, "X-Forwarded-For", addr)
	var ar struct {
		UserCode string `json:"user_code"`
	}
	body := readAll(resp.Body)
	if resp.StatusCode != 200 || json.Unmarshal(body, &ar) != nil {
		t.Fatalf("device_authorization from %s: %s %s", addr, resp.Status, body)
	}
	return ar.UserCode
}

var _ = fmt.Sprint
