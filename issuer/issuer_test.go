package issuer_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lantls/lantls/issuer"
	"github.com/lantls/lantls/issuer/issuertest"
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
		{"/", "text/plain; charset=utf-8", info.Directory},
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
	for _, f := range []string{issuer.InfoFile, "lantls.db", "ca/root.key", "ca/intermediate.key"} {
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
	if err == nil || !strings.Contains(err.Error(), "another issuer is running") {
		t.Errorf("second issuer on a data dir in use: err = %v, want 'another issuer is running'", err)
	}
	second.Close()

	_, err = issuer.New(ctx, issuer.Config{DataDir: dir, Zone: "other.test", Listen: "127.0.0.1:0", Signer: "local"})
	if err == nil || !strings.Contains(err.Error(), "lan.test") {
		t.Errorf("New with another zone on the same data dir: err = %v, want one naming lan.test", err)
	}
}

func TestIssuerConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  issuer.Config
		want string
	}{
		{"signer", issuer.Config{Signer: "hsm", Zone: "lan.test", DataDir: "x"}, "use --signer local"},
		{"zone", issuer.Config{Signer: "local", Zone: "nodots", DataDir: "x"}, "zone \"nodots\""},
		{"wildcard zone", issuer.Config{Signer: "local", Zone: "*.lan.test", DataDir: "x"}, "zone"},
		{"listen", issuer.Config{Signer: "local", Zone: "lan.test", DataDir: "DIR", Listen: "256.0.0.1:1"}, "--listen"},
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
