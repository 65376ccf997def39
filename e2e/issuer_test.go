package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"strings"
	"testing"

	"golang.org/x/crypto/acme"
)

func TestIssuerEndpoints(t *testing.T) {
	t.Parallel()
	iss := startIssuer(t)

	t.Run("healthz", func(t *testing.T) {
		resp, body := iss.get(t, iss.BaseURL+"/healthz")
		if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "ok" {
			t.Errorf("GET /healthz: %s %q, want 200 \"ok\"", resp.Status, body)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		resp, body := iss.get(t, iss.BaseURL+"/metrics")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /metrics: %s\n%s", resp.Status, body)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("GET /metrics: Content-Type %q, want Prometheus text", ct)
		}
		if !bytes.Contains(body, []byte("# TYPE ")) {
			t.Errorf("GET /metrics: no Prometheus text:\n%s", body)
		}
	})

	t.Run("directory", func(t *testing.T) {
		dir := iss.directoryDoc(t)
		for _, k := range []string{"newNonce", "newAccount", "newOrder", "revokeCert", "keyChange", "renewalInfo"} {
			u, _ := dir[k].(string)
			if !strings.HasPrefix(u, iss.BaseURL+"/") {
				t.Errorf("directory %s is %q, want a URL under %s", k, u, iss.BaseURL)
			}
		}
		meta, _ := dir["meta"].(map[string]any)
		if meta["externalAccountRequired"] != true {
			t.Errorf("directory meta %v lacks externalAccountRequired: true", meta)
		}
	})

	t.Run("newNonce", func(t *testing.T) {
		u, _ := iss.directoryDoc(t)["newNonce"].(string)
		resp, err := iss.client.Head(u)
		if err != nil {
			t.Fatalf("HEAD %s: %v", u, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Replay-Nonce") == "" {
			t.Errorf("HEAD newNonce: %s, Replay-Nonce %q", resp.Status, resp.Header.Get("Replay-Nonce"))
		}
		if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
			t.Errorf("HEAD newNonce: Cache-Control %q, want no-store (RFC 8555 section 7.2)", cc)
		}
	})

	t.Run("CRL before any revocation", func(t *testing.T) {
		resp, body := iss.get(t, iss.BaseURL+"/ca/crl")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /ca/crl: %s: the issuer serves no CRL there\n%s", resp.Status, body)
		}
		crl, err := x509.ParseRevocationList(body)
		if err != nil {
			t.Fatalf("GET /ca/crl: not a DER CRL: %v", err)
		}
		if n := len(crl.RevokedCertificateEntries); n != 0 {
			t.Errorf("fresh issuer's CRL lists %d certificates", n)
		}
	})

	t.Run("TLS name", func(t *testing.T) {
		host := strings.TrimPrefix(iss.BaseURL, "https://")
		conn, err := tls.Dial("tcp", host, &tls.Config{RootCAs: iss.roots, ServerName: "localhost"})
		if err != nil {
			t.Fatalf("TLS to %s as localhost (--hostname): %v", host, err)
		}
		conn.Close()
	})
}

// TestIssuerRestart stops an issuer and starts another on the same data:
// same root, the account and its certificates are still there.
func TestIssuerRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	iss := startIssuerIn(t, dir)
	dev := addDevice(t, iss)
	ctx := acmeContext(t)
	cl := registerDevice(t, ctx, iss, dev)
	before := issue(t, ctx, cl, dev.Names...)
	rootBefore, err := os.ReadFile(iss.Root)
	if err != nil {
		t.Fatal(err)
	}
	iss.Stop(t)

	iss = startIssuerIn(t, dir)
	rootAfter, err := os.ReadFile(iss.Root)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rootBefore, rootAfter) {
		t.Fatal("the root changed across a restart")
	}
	verifyDeviceChain(t, iss, dev, before.chain)

	cl = &acme.Client{Key: cl.Key, DirectoryURL: iss.Directory, HTTPClient: iss.client}
	acct, err := cl.GetReg(ctx, "")
	if err != nil {
		t.Fatalf("looking up the account after a restart: %v", err)
	}
	if !strings.HasPrefix(acct.URI, iss.BaseURL+"/") {
		t.Errorf("account URL %q is not under the new base URL %s", acct.URI, iss.BaseURL)
	}
	after := issue(t, ctx, cl, dev.Names...)
	requireNewSerial(t, before.chain[0], after.chain[0])
	if err := cl.RevokeCert(ctx, nil, before.chain[0].Raw, acme.CRLReasonSuperseded); err != nil {
		t.Fatalf("revoking a certificate issued before the restart: %v", err)
	}
	requireRevoked(t, iss, before.chain, reasonSuperseded)
}
