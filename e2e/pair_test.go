package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// TestPairWithCurlAndLego pairs a device with the real binaries and
// independent clients: curl speaks RFC 8628 to the issuer, the operator
// approves with `lantls admin pair approve` while the issuer runs, and lego
// registers the paired account key with the EAB key it got and issues the
// device's certificate. lego with any other account key is refused.
func TestPairWithCurlAndLego(t *testing.T) {
	curl := requireTool(t, "curl", "curl")
	requireTool(t, "lego", "lego")
	t.Parallel()
	iss := startIssuer(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := json.Marshal(&jose.JSONWebKey{Key: &key.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	post := func(path string, form url.Values) map[string]any {
		t.Helper()
		args := []string{"--silent", "--show-error", "--cacert", iss.Root, iss.BaseURL + path}
		for k, vs := range form {
			for _, v := range vs {
				args = append(args, "--data-urlencode", k+"="+v)
			}
		}
		r := mustRun(t, nil, curl, args...)
		var out map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatalf("curl %s: %v\n%s", path, err, r)
		}
		return out
	}

	auth := post("/pair/device_authorization", url.Values{
		"client_id": {"e2e-curl"}, "public_key": {string(jwk)}, "model": {"curl 8"}, "hostname": {"nas"},
	})
	code, _ := auth["user_code"].(string)
	deviceCode, _ := auth["device_code"].(string)
	if len(code) != 9 || deviceCode == "" || auth["interval"] != float64(1) || auth["expires_in"] != float64(600) {
		t.Fatalf("device authorization = %v", auth)
	}
	poll := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {deviceCode}, "client_id": {"e2e-curl"}}
	if got := post("/pair/token", poll); got["error"] != "authorization_pending" {
		t.Fatalf("first poll = %v, want authorization_pending", got)
	}

	if r := iss.admin(t, "pair", "list"); r.code != 0 || !strings.Contains(r.stdout, code) || !strings.Contains(r.stdout, "nas") {
		t.Fatalf("pair list:\n%s", r)
	}
	if r := iss.admin(t, "pair", "approve", strings.ToLower(strings.ReplaceAll(code, "-", "")), "--owner", "alice", "--new-owner"); r.code != 0 {
		t.Fatalf("pair approve:\n%s", r)
	}
	tok := post("/pair/token", poll)
	creds, _ := tok["lantls"].(map[string]any)
	if tok["token_type"] != "Bearer" || creds == nil {
		t.Fatalf("token after approval = %v", tok)
	}
	if again := post("/pair/token", poll); again["error"] != "invalid_grant" {
		t.Errorf("second redemption = %v, want invalid_grant", again)
	}
	dev := &device{Label: creds["label"].(string), EABKID: creds["eab_kid"].(string), EABHMACKey: creds["eab_hmac_key"].(string)}
	for _, n := range creds["names"].([]any) {
		dev.Names = append(dev.Names, n.(string))
	}

	// lego with a key of its own: the EAB key binds only the paired key.
	stranger := newLego(t, iss, dev)
	if r := stranger.run(t, "run"); r.code == 0 || !strings.Contains(r.output(), "unauthorized") {
		t.Fatalf("lego with another account key got in:\n%s", r)
	}
	// lego with the paired key, placed where lego keeps its account key.
	lg := newLego(t, iss, dev)
	u, _ := url.Parse(iss.Directory)
	keys := filepath.Join(lg.dir, "accounts", strings.ReplaceAll(u.Host, ":", "_"), "owner@example.com", "keys")
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(keys, "owner@example.com.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := lg.run(t, "run"); r.code != 0 {
		t.Fatalf("lego with the paired key:\n%s", r)
	}
	verifyDeviceChain(t, iss, dev, lg.chain(t))
}
