package issuer_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/internal/clientaddr"
	"github.com/lantls/lantls/issuer"
	"github.com/lantls/lantls/issuer/issuertest"
	"github.com/lantls/lantls/pairing"
	"github.com/lantls/lantls/ratelimit"
)

// startIssuer runs an issuer in dir and returns it with a client that
// trusts only its root.
func startIssuer(t *testing.T, dir string) (*issuer.Issuer, *http.Client) {
	t.Helper()
	iss, roots := issuertest.Start(t, issuer.Config{DataDir: dir, Hostnames: []string{"localhost"}})
	return iss, &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestIssuerServes(t *testing.T) {
	dir := t.TempDir()
	iss, client := startIssuer(t, dir)
	info := iss.Info()
	if !strings.HasPrefix(info.Directory, "https://127.0.0.1:") || !strings.HasSuffix(info.Directory, "/acme/directory") {
		t.Errorf("directory = %q", info.Directory)
	}

	tests := []struct {
		path        string
		contentType string
		body        string // substring
	}{
		{"/healthz", "text/plain; charset=utf-8", "ok"},
		{"/acme/directory", "application/json", "newAccount"},
		{"/ca/root.pem", "application/x-pem-file", "BEGIN CERTIFICATE"},
		{"/ca/root.crt", "application/pkix-cert", ""},
		{"/ca/intermediate.crt", "application/pkix-cert", ""},
		{"/ca/crl", "application/pkix-crl", ""},
		{"/", "text/html; charset=utf-8", "Log in"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := get(t, client, info.BaseURL+tt.path)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %s, body %q", resp.Status, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != tt.contentType {
				t.Errorf("Content-Type = %q, want %q", ct, tt.contentType)
			}
			if !strings.Contains(string(body), tt.body) {
				t.Errorf("body %q does not contain %q", body, tt.body)
			}
		})
	}

	_, crl := get(t, client, info.BaseURL+"/ca/crl")
	rl, err := x509.ParseRevocationList(crl)
	if err != nil {
		t.Fatal(err)
	}
	_, interDER := get(t, client, info.BaseURL+"/ca/intermediate.crt")
	inter, err := x509.ParseCertificate(interDER)
	if err != nil {
		t.Fatal(err)
	}
	if err := rl.CheckSignatureFrom(inter); err != nil {
		t.Errorf("CRL signature: %v", err)
	}

	// Metrics exist once requests were served.
	_, metrics := get(t, client, info.BaseURL+"/metrics")
	for _, name := range []string{"lantls_http_requests_total", "lantls_http_request_duration_seconds", "go_goroutines"} {
		if !strings.Contains(string(metrics), name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}

	// issuer.json says how to reach it, and only its owner may read it.
	got, err := issuer.ReadInfo(dir)
	if err != nil {
		t.Fatal(err)
	}
	if *got != info {
		t.Errorf("issuer.json = %+v, want %+v", *got, info)
	}
	for _, f := range []string{issuer.InfoFile, "lantls.db", "ca/intermediate.key", "../" + filepath.Base(dir) + "-root.key"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
		} else if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v, want no group or other access", f, fi.Mode().Perm())
		}
	}
}

func TestIssuerRestartKeepsCA(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	first, err := issuer.New(ctx, issuer.Config{DataDir: dir, Zone: "lan.test", Listen: "127.0.0.1:0", Signer: "local"})
	if err != nil {
		t.Fatal(err)
	}
	root := string(first.RootPEM())
	first.Close()

	second, err := issuer.New(ctx, issuer.Config{DataDir: dir, Zone: "lan.test", Listen: "127.0.0.1:0", Signer: "local"})
	if err != nil {
		t.Fatal(err)
	}
	if string(second.RootPEM()) != root {
		t.Error("the root changed across a restart")
	}
	// One issuer per data dir.
	_, err = issuer.New(ctx, issuer.Config{DataDir: dir, Zone: "lan.test", Listen: "127.0.0.1:0", Signer: "local"})
	if ce := (*issuer.ConfigError)(nil); !errors.As(err, &ce) || ce.Field != "DataDir" || !strings.Contains(err.Error(), "another issuer is running") {
		t.Errorf("second issuer on a data dir in use: err = %v, want a DataDir ConfigError 'another issuer is running'", err)
	}
	second.Close()

	_, err = issuer.New(ctx, issuer.Config{DataDir: dir, Zone: "other.test", Listen: "127.0.0.1:0", Signer: "local"})
	if ce := (*issuer.ConfigError)(nil); !errors.As(err, &ce) || ce.Field != "Zone" || !strings.Contains(err.Error(), "lan.test") {
		t.Errorf("New with another zone on the same data dir: err = %v, want a Zone ConfigError naming lan.test", err)
	}
}

func TestIssuerConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  issuer.Config
		want string
	}{
		{"signer", issuer.Config{Signer: "hsm", Zone: "lan.test", DataDir: "x"}, "use local or upstream"},
		{"zone", issuer.Config{Signer: "local", Zone: "nodots", DataDir: "x"}, "zone \"nodots\""},
		{"wildcard zone", issuer.Config{Signer: "local", Zone: "*.lan.test", DataDir: "x"}, "zone"},
		{"listen", issuer.Config{Signer: "local", Zone: "lan.test", DataDir: "DIR", Listen: "256.0.0.1:1"}, "256.0.0.1:1"},
		{"http listen", issuer.Config{Signer: "local", Zone: "lan.test", DataDir: "DIR", Listen: "127.0.0.1:0", HTTPListen: "256.0.0.1:1"}, "256.0.0.1:1"},
		{"http base URL", issuer.Config{Signer: "local", Zone: "lan.test", DataDir: "x", HTTPBaseURL: "https://hub.lan.test"}, "http://host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.cfg.DataDir == "DIR" {
				tt.cfg.DataDir = t.TempDir()
			}
			_, err := issuer.New(context.Background(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestIssuerPlainHTTP checks the plain HTTP listener: it serves the CA
// files that new certificates point at, and redirects everything else to
// HTTPS with the method kept.
func TestIssuerPlainHTTP(t *testing.T) {
	iss, client := startIssuer(t, t.TempDir())
	info := iss.Info()
	if !strings.HasPrefix(info.FilesURL, "http://127.0.0.1:") {
		t.Fatalf("files URL = %q, want http://127.0.0.1:PORT", info.FilesURL)
	}
	plain := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	for _, tt := range []struct{ path, contentType string }{
		{"/ca/root.pem", "application/x-pem-file"},
		{"/ca/root.crt", "application/pkix-cert"},
		{"/ca/intermediate.crt", "application/pkix-cert"},
		{"/ca/crl", "application/pkix-crl"},
	} {
		resp, body := get(t, plain, info.FilesURL+tt.path)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != tt.contentType || len(body) == 0 {
			t.Errorf("GET %s: %s %q, %d bytes", tt.path, resp.Status, resp.Header.Get("Content-Type"), len(body))
		}
	}
	for _, tt := range []struct{ method, path string }{
		{"GET", "/acme/directory"},
		{"POST", "/acme/new-order?x=1"},
		{"GET", "/"},
		{"GET", "/healthz"},
		{"POST", "/ca/crl"},
	} {
		req, _ := http.NewRequest(tt.method, info.FilesURL+tt.path, strings.NewReader("{}"))
		resp, err := plain.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := info.BaseURL + tt.path; resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
			t.Errorf("%s %s: %s to %q, want 308 to %q", tt.method, tt.path, resp.Status, resp.Header.Get("Location"), want)
		}
	}

	// A new leaf names the plain HTTP CRL and intermediate, and the CRL
	// there is the intermediate's.
	leaf := issueLeaf(t, iss, client)
	if want := []string{info.FilesURL + "/ca/crl"}; !slices.Equal(leaf.CRLDistributionPoints, want) {
		t.Errorf("CRL distribution points %q, want %q", leaf.CRLDistributionPoints, want)
	}
	if want := []string{info.FilesURL + "/ca/intermediate.crt"}; !slices.Equal(leaf.IssuingCertificateURL, want) {
		t.Errorf("AIA caIssuers %q, want %q", leaf.IssuingCertificateURL, want)
	}
	_, crlDER := get(t, plain, leaf.CRLDistributionPoints[0])
	_, interDER := get(t, plain, leaf.IssuingCertificateURL[0])
	crl, err := x509.ParseRevocationList(crlDER)
	if err != nil {
		t.Fatal(err)
	}
	inter, err := x509.ParseCertificate(interDER)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(inter); err != nil {
		t.Errorf("CRL from %s: %v", leaf.CRLDistributionPoints[0], err)
	}
	if err := leaf.CheckSignatureFrom(inter); err != nil {
		t.Errorf("leaf against the intermediate from %s: %v", leaf.IssuingCertificateURL[0], err)
	}
}

// issueLeaf gets a certificate for a new device with golang.org/x/crypto/acme.
func issueLeaf(t *testing.T, iss *issuer.Issuer, client *http.Client) *x509.Certificate {
	t.Helper()
	ctx := t.Context()
	info := iss.Info()
	creds, err := devices.Add(ctx, iss.Store(), info.Zone, "owner", "TV", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	hmac, err := base64.RawURLEncoding.DecodeString(creds.HMACKey)
	if err != nil {
		t.Fatal(err)
	}
	accountKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cl := &acme.Client{Key: accountKey, DirectoryURL: info.Directory, HTTPClient: client}
	if _, err := cl.Register(ctx, &acme.Account{ExternalAccountBinding: &acme.ExternalAccountBinding{KID: creds.KID, Key: hmac}}, acme.AcceptTOS); err != nil {
		t.Fatalf("register: %v", err)
	}
	o, err := cl.AuthorizeOrder(ctx, acme.DomainIDs(creds.Names...))
	if err != nil {
		t.Fatalf("order: %v", err)
	}
	certKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: creds.Names}, certKey)
	if err != nil {
		t.Fatal(err)
	}
	der, _, err := cl.CreateOrderCert(ctx, o.FinalizeURL, csr, true)
	if err != nil {
		t.Fatalf("finalize: %v", err)
	}
	leaf, err := x509.ParseCertificate(der[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

// TestCRLCached: the CRL is signed once per revoked set, not on every GET,
// and a revocation shows in the next one at once.
func TestCRLCached(t *testing.T) {
	iss, client := startIssuer(t, t.TempDir())
	url := iss.Info().BaseURL + "/ca/crl"
	_, first := get(t, client, url)
	_, again := get(t, client, url)
	if !bytes.Equal(first, again) {
		t.Error("two GETs of an unchanged CRL got two signatures")
	}
	leaf := issueLeaf(t, iss, client)
	if err := iss.Store().RevokeCertificate(t.Context(), leaf.SerialNumber.Text(16), 1, time.Now()); err != nil {
		t.Fatal(err)
	}
	_, after := get(t, client, url)
	rl, err := x509.ParseRevocationList(after)
	if err != nil {
		t.Fatal(err)
	}
	if len(rl.RevokedCertificateEntries) != 1 || rl.RevokedCertificateEntries[0].SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Errorf("CRL after a revocation lists %v, want serial %x", rl.RevokedCertificateEntries, leaf.SerialNumber)
	}
}

// TestTLSProfile: TLS 1.2 offers only AEAD suites (Mozilla's intermediate
// profile); a client that knows only CBC suites gets no handshake.
func TestTLSProfile(t *testing.T) {
	iss, _ := startIssuer(t, t.TempDir())
	addr := strings.TrimPrefix(iss.Info().BaseURL, "https://")
	for _, tt := range []struct {
		suite uint16
		ok    bool
	}{
		{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, false},
		{tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, false},
		{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, true},
		{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, true},
	} {
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tt.suite}})
		if err == nil {
			c.Close()
		}
		if (err == nil) != tt.ok {
			t.Errorf("TLS 1.2 with only %s: %v, want accepted %v", tls.CipherSuiteName(tt.suite), err, tt.ok)
		}
	}
	if _, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}); err == nil {
		t.Error("TLS 1.1 accepted")
	}
}

// TestMetricsListener: with --metrics-listen, /metrics is there and not on
// the public listener.
func TestMetricsListener(t *testing.T) {
	iss, roots := issuertest.Start(t, issuer.Config{Hostnames: []string{"localhost"}, MetricsListen: "127.0.0.1:0"})
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	if resp, _ := get(t, client, iss.Info().BaseURL+"/metrics"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("public /metrics with a metrics listener: %s, want 404", resp.Status)
	}
	resp, body := get(t, http.DefaultClient, "http://"+iss.MetricsAddr()+"/metrics")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "go_goroutines") {
		t.Errorf("metrics listener: %s %.200s", resp.Status, body)
	}
}

// TestTrustedProxies: behind a listed proxy each client's X-Forwarded-For
// address has its own per-source limits; from anywhere else the header is
// ignored, so a client cannot choose its bucket.
func TestTrustedProxies(t *testing.T) {
	limits := ratelimit.Defaults
	limits.FailedPairingsPerSource = ratelimit.Limit{Name: "failed-pairings-per-source", Count: 2, Period: time.Hour}
	for _, tt := range []struct {
		name    string
		proxies string
		// want is the status of a third unknown device code from
		// 198.51.100.2 after two from 198.51.100.1.
		want int
	}{
		{"behind a trusted proxy", "127.0.0.0/8", http.StatusBadRequest},
		{"no trusted proxy", "", http.StatusTooManyRequests},
		{"another proxy", "10.0.0.0/8", http.StatusTooManyRequests},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ps, err := clientaddr.ParseProxies(tt.proxies)
			if err != nil {
				t.Fatal(err)
			}
			iss, roots := issuertest.Start(t, issuer.Config{Hostnames: []string{"localhost"}, Limits: limits, TrustedProxies: ps})
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
			poll := func(from string) int {
				form := url.Values{"grant_type": {pairing.DeviceCodeGrant}, "device_code": {"no-such-code"}, "client_id": {"lantls-agent"}}
				req, _ := http.NewRequest("POST", iss.Info().BaseURL+"/pair/token", strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("X-Forwarded-For", from)
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			poll("198.51.100.1")
			poll("198.51.100.1")
			if got := poll("198.51.100.2"); got != tt.want {
				t.Errorf("third unknown code, from another client: %d, want %d", got, tt.want)
			}
		})
	}
}
