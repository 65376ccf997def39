package pairing_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/lantls/lantls/issuer"
	"github.com/lantls/lantls/issuer/issuertest"
	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/pairing"
)

// TestFlowWithIssuer runs the whole pairing on a real issuer: a Go client
// starts RFC 8628 device authorization and polls as the RFC says; the
// owner approves through the Go API; the client collects its
// credentials, registers its ACME account with the EAB key
// (golang.org/x/crypto/acme) and gets a certificate for its names.
func TestFlowWithIssuer(t *testing.T) {
	clock := &skewClock{}
	iss, roots := issuertest.Start(t, issuer.Config{Now: clock.Now})
	ctx := t.Context()
	httpc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	base := iss.Info().BaseURL
	owner, err := iss.Store().EnsureOwner(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}

	ar, key := startPairing(t, httpc, base)
	t.Logf("the device shows: go to %s and enter %s", ar.VerificationURI, ar.UserCode)
	// The owner types the code, in lower case, while the device waits.
	tok := pollUntilDone(t, httpc, base, ar, clock, func() {
		if err := iss.Pairing().Approve(ctx, strings.ToLower(ar.UserCode), owner.ID, "alice"); err != nil {
			t.Fatalf("Approve: %v", err)
		}
	})
	cr := tok.Lantls
	spki, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if cr.Label != names.Label(spki) || cr.Directory != iss.Info().Directory {
		t.Fatalf("credentials %+v", cr)
	}
	hmac, err := base64.RawURLEncoding.DecodeString(cr.EABHMACKey)
	if err != nil {
		t.Fatal(err)
	}
	eab := &acme.ExternalAccountBinding{KID: cr.EABKID, Key: hmac}

	// The EAB key binds only the key that paired.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := register(ctx, cr.Directory, other, eab, httpc); err == nil || !strings.Contains(err.Error(), "unauthorized") {
		t.Errorf("register with the EAB key and another account key: %v, want unauthorized", err)
	}
	client, err := register(ctx, cr.Directory, key, eab, httpc)
	if err != nil {
		t.Fatalf("register with the paired key: %v", err)
	}
	cert, err := obtain(ctx, client, cr.Names)
	if err != nil {
		t.Fatalf("obtain: %v", err)
	}
	leaf := cert.Leaf
	inter := x509.NewCertPool()
	for _, der := range cert.Certificate[1:] {
		c, _ := x509.ParseCertificate(der)
		inter.AddCert(c)
	}
	host := "192-168-1-20." + cr.Label + "." + cr.Zone
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: host}); err != nil {
		t.Errorf("certificate does not verify for %s: %v", host, err)
	}
	// The bearer token reads the device's policy.
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/device/policy", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := httpc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("ETag") == "" {
		t.Errorf("policy: %s", resp.Status)
	}
}

// skewClock is the issuer's clock in TestFlowWithIssuer: the real time
// plus what the device skipped instead of sleeping, so that the issuer
// sees polls an interval apart without the test waiting for it.
type skewClock struct {
	mu   sync.Mutex
	skip time.Duration
}

func (c *skewClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.skip)
}

// Skip moves the clock d ahead.
func (c *skewClock) Skip(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.skip += d
}

// pollUntilDone polls the token endpoint as RFC 8628 section 3.5 asks:
// every interval seconds of the issuer's clock, 5 s more after each
// slow_down, until it gets a token or an error other than
// authorization_pending. It calls pending after the first
// authorization_pending.
func pollUntilDone(t *testing.T, c *http.Client, base string, ar *pairing.AuthorizationResponse, clock *skewClock, pending func()) *pairing.TokenResponse {
	t.Helper()
	interval := time.Duration(ar.Interval) * time.Second
	deadline := clock.Now().Add(time.Duration(ar.ExpiresIn) * time.Second)
	for clock.Now().Before(deadline) {
		clock.Skip(interval)
		var a tokenAnswer
		resp := post(t, c, base+"/pair/token", url.Values{
			"grant_type": {pairing.DeviceCodeGrant}, "device_code": {ar.DeviceCode}, "client_id": {"lantls-agent"},
		}, &a)
		switch {
		case resp.StatusCode == http.StatusOK:
			return &a.TokenResponse
		case a.Error == "authorization_pending":
			if pending != nil {
				pending()
				pending = nil
			}
		case a.Error == "slow_down":
			interval += pairing.SlowDownStep
		default:
			t.Fatalf("poll: %s %s (%s)", resp.Status, a.Error, a.Description)
		}
	}
	t.Fatal("the device code expired while polling")
	return nil
}
