package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/crypto/acme"

	"github.com/lantls/lantls/store/postgres/pgtest"
)

// instances are two `lantls issuer` processes on one PostgreSQL database
// and one CA directory, behind a TCP load balancer that hands each new
// connection to the next instance in turn, as docs/operations.md tells an
// operator to run them. Both have the balancer's URL as their base URL.
type instances struct {
	a, b     *issuer
	addrs    [2]string // each instance's own listen address
	store    string    // the --store URL
	balancer string    // https://127.0.0.1:PORT
	roots    *x509.CertPool
}

func startInstances(t *testing.T, flags ...string) *instances {
	t.Helper()
	in := &instances{store: pgtest.URL(t)}
	for i := range in.addrs {
		in.addrs[i] = freeAddr(t)
	}
	in.balancer = "https://" + startBalancer(t, in.addrs)
	caDir := filepath.Join(t.TempDir(), "ca")
	flags = append([]string{"--store", in.store, "--ca-dir", caDir, "--base-url", in.balancer}, flags...)
	in.a = startIssuerOn(t, t.TempDir(), in.addrs[0], flags...)
	in.b = startIssuerOn(t, t.TempDir(), in.addrs[1], flags...)
	in.roots = in.a.roots
	return in
}

// direct returns a client whose every request goes to instance i (0: a,
// 1: b), whatever the URL says, as if the balancer had picked it.
func (in *instances) direct(i int) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second}
	addr := in.addrs[i]
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		Proxy:           nil,
		TLSClientConfig: &tls.Config{RootCAs: in.roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
	}}
}

// balanced returns a client that opens a new connection through the
// balancer for every request, so that consecutive requests alternate
// between the instances.
func (in *instances) balanced() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		Proxy:             nil,
		TLSClientConfig:   &tls.Config{RootCAs: in.roots},
		DisableKeepAlives: true,
	}}
}

// startBalancer listens on 127.0.0.1 and copies each connection to the
// next of backends in turn. It returns its address.
func startBalancer(t *testing.T, backends [2]string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		next atomic.Uint64
		wg   sync.WaitGroup
	)
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			backend := backends[next.Add(1)%2]
			wg.Go(func() {
				defer c.Close()
				u, err := net.DialTimeout("tcp", backend, 10*time.Second)
				if err != nil {
					return
				}
				defer u.Close()
				done := make(chan struct{})
				go func() { io.Copy(u, c); u.(*net.TCPConn).CloseWrite(); close(done) }()
				io.Copy(c, u)
				c.(*net.TCPConn).CloseWrite()
				<-done
			})
		}
	})
	return ln.Addr().String()
}

// freeAddr returns 127.0.0.1:PORT with a port nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestTwoInstances runs the issuance path of a stock ACME client through
// two instances at once, and checks what they must agree on: nonces,
// accounts, orders, rate limits, revocations and the CRL.
func TestTwoInstances(t *testing.T) {
	t.Parallel()
	in := startInstances(t, "--limit-orders-per-account", "3/1h")
	ctx := acmeContext(t)
	dir := in.balancer + "/acme/directory"

	t.Run("nonce of one instance is good once on the other", func(t *testing.T) {
		nonce := newNonce(t, in.direct(0), in.balancer+"/acme/new-nonce")
		key := newKey(t)
		body := signJWS(t, key, nonce, in.balancer+"/acme/new-account", `{"onlyReturnExisting":true}`)
		// The account does not exist: past the nonce check, so B took A's
		// nonce.
		if got := postProblem(t, in.direct(1), in.balancer+"/acme/new-account", body); got != "accountDoesNotExist" {
			t.Errorf("first use of A's nonce on B: problem %q, want accountDoesNotExist", got)
		}
		for i, name := range []string{"A", "B"} {
			if got := postProblem(t, in.direct(i), in.balancer+"/acme/new-account", body); got != "badNonce" {
				t.Errorf("replay of a spent nonce on %s: problem %q, want badNonce", name, got)
			}
		}
	})

	// Every request of this client goes to the other instance than the
	// one before: account, order, authorizations, finalize and download
	// are each split across both.
	dev := addDevice(t, in.a)
	cl := &acme.Client{Key: newKey(t), DirectoryURL: dir, HTTPClient: in.balanced(), UserAgent: "lantls-e2e"}
	if _, err := cl.Register(ctx, &acme.Account{ExternalAccountBinding: eab(t, dev)}, acme.AcceptTOS); err != nil {
		t.Fatalf("newAccount through both instances: %v", err)
	}
	got := issue(t, ctx, cl, dev.Names...)
	verifyDeviceChain(t, in.a, dev, got.chain)

	t.Run("EAB key used through one is refused by the other", func(t *testing.T) {
		for i := range 2 {
			other := &acme.Client{Key: newKey(t), DirectoryURL: dir, HTTPClient: in.direct(i)}
			_, err := other.Register(ctx, &acme.Account{ExternalAccountBinding: eab(t, dev)}, acme.AcceptTOS)
			if err == nil {
				t.Errorf("instance %d registered a second account key with an EAB key already bound", i)
			}
		}
	})

	t.Run("rate limit is shared", func(t *testing.T) {
		// One order above; two more fill the limit of 3 an hour, whichever
		// instance takes them; the next is refused on both.
		for range 2 {
			if _, err := cl.AuthorizeOrder(ctx, acme.DomainIDs(dev.Names...)); err != nil {
				t.Fatalf("newOrder within the limit: %v", err)
			}
		}
		for i := range 2 {
			c := &acme.Client{Key: cl.Key, KID: cl.KID, DirectoryURL: dir, HTTPClient: in.direct(i), RetryBackoff: noRetry}
			_, err := c.AuthorizeOrder(ctx, acme.DomainIDs(dev.Names...))
			requireProblem(t, err, "rateLimited", fmt.Sprintf("fourth newOrder in an hour on instance %d", i))
		}
	})

	t.Run("pairing, bearer token and DNS across instances", func(t *testing.T) {
		testPairingAcross(t, in)
	})

	t.Run("revocation through one is seen by both at once", func(t *testing.T) {
		if r := in.b.admin(t, "device", "revoke", dev.Label); r.code != 0 {
			t.Fatalf("device revoke: %s", r)
		}
		for i := range 2 {
			c := &acme.Client{Key: cl.Key, KID: cl.KID, DirectoryURL: dir, HTTPClient: in.direct(i), RetryBackoff: noRetry}
			_, err := c.AuthorizeOrder(ctx, acme.DomainIDs(dev.Names...))
			if p := problemType(err); p != "unauthorized" && p != "rateLimited" {
				t.Errorf("newOrder for a revoked device on instance %d: %v, want unauthorized", i, err)
			}
			if _, err := c.GetReg(ctx, ""); problemType(err) != "unauthorized" {
				t.Errorf("account of a revoked device on instance %d: %v, want unauthorized", i, err)
			}
		}
		var crls [2][]string
		for i := range 2 {
			crls[i] = crlOf(t, in.direct(i), in.balancer+"/ca/crl", got.chain[1])
		}
		serial := fmt.Sprintf("%x", got.chain[0].SerialNumber)
		if !slices.Contains(crls[0], serial) || !slices.Equal(crls[0], crls[1]) {
			t.Errorf("CRLs of the two instances: %q and %q, want both to list %s and agree", crls[0], crls[1], serial)
		}
	})
}

// noRetry makes an acme.Client return a rateLimited answer at once rather
// than wait for its Retry-After.
func noRetry(int, *http.Request, *http.Response) time.Duration { return -1 }

// newNonce fetches a fresh nonce with HEAD.
func newNonce(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Head(url)
	if err != nil {
		t.Fatalf("HEAD %s: %v", url, err)
	}
	resp.Body.Close()
	n := resp.Header.Get("Replay-Nonce")
	if n == "" {
		t.Fatalf("HEAD %s: no Replay-Nonce (%s)", url, resp.Status)
	}
	return n
}

// signJWS signs payload for url with an ES256 account key sent as a jwk,
// as newAccount wants it (RFC 8555 section 6.2).
func signJWS(t *testing.T, key *ecdsa.PrivateKey, nonce, url, payload string) []byte {
	t.Helper()
	jwk, err := (&jose.JSONWebKey{Key: key.Public()}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	header, _ := json.Marshal(map[string]any{"alg": "ES256", "jwk": json.RawMessage(jwk), "nonce": nonce, "url": url})
	b64 := base64.RawURLEncoding.EncodeToString
	protected, body := b64(header), b64([]byte(payload))
	digest := sha256.Sum256([]byte(protected + "." + body))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	out, _ := json.Marshal(map[string]string{"protected": protected, "payload": body, "signature": b64(sig)})
	return out
}

// postProblem posts a JWS and returns the ACME problem type of the answer
// without its URN prefix, or "" when it is no problem document.
func postProblem(t *testing.T, c *http.Client, url string, body []byte) string {
	t.Helper()
	resp, err := c.Post(url, "application/jose+json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	var p struct {
		Type string `json:"type"`
	}
	json.NewDecoder(resp.Body).Decode(&p)
	return strings.TrimPrefix(p.Type, "urn:ietf:params:acme:error:")
}

// crlOf fetches the CRL at url, checks it is signed by issuerCert, and
// returns its serials in hex, sorted.
func crlOf(t *testing.T, c *http.Client, url string, issuerCert *x509.Certificate) []string {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	der, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatalf("GET %s: %s: not a CRL: %v", url, resp.Status, err)
	}
	if err := crl.CheckSignatureFrom(issuerCert); err != nil {
		t.Errorf("CRL at %s: %v", url, err)
	}
	var serials []string
	for _, e := range crl.RevokedCertificateEntries {
		serials = append(serials, fmt.Sprintf("%x", e.SerialNumber))
	}
	slices.Sort(serials)
	return serials
}

// testPairingAcross pairs a device through both instances (RFC 8628: the
// authorization on A, the polls on B and A), uses its bearer token on both,
// reports its addresses through B and finds them in the DNS answers of A
// within a second, and revokes it: both instances' DNS and device API
// refuse it at once.
func testPairingAcross(t *testing.T, in *instances) {
	requireTool(t, "dig", "bind9-dnsutils")
	key := newKey(t)
	jwk, err := (&jose.JSONWebKey{Key: key.Public()}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	form := func(i int, path string, v url.Values) map[string]any {
		t.Helper()
		resp, err := in.direct(i).PostForm(in.balancer+path, v)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatalf("POST %s: %s: %v", path, resp.Status, err)
		}
		return out
	}
	auth := form(0, "/pair/device_authorization", url.Values{
		"client_id": {"e2e"}, "public_key": {string(jwk)}, "model": {"e2e"}, "hostname": {"nas"},
	})
	code, _ := auth["user_code"].(string)
	poll := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"},
		"device_code": {fmt.Sprint(auth["device_code"])}, "client_id": {"e2e"}}
	if got := form(1, "/pair/token", poll); got["error"] != "authorization_pending" {
		t.Fatalf("poll on B of a code made on A = %v, want authorization_pending", got)
	}
	if r := in.b.admin(t, "pair", "approve", code, "--owner", "alice", "--new-owner"); r.code != 0 {
		t.Fatalf("pair approve: %s", r)
	}
	tok := form(0, "/pair/token", poll)
	bearer, _ := tok["access_token"].(string)
	creds, _ := tok["lantls"].(map[string]any)
	if bearer == "" || creds == nil {
		t.Fatalf("token on A after approval through B = %v", tok)
	}
	if again := form(1, "/pair/token", poll); again["error"] != "invalid_grant" {
		t.Errorf("second redemption, on B = %v, want invalid_grant", again)
	}
	label, _ := creds["label"].(string)

	api := func(i int, method, path, body string) int {
		t.Helper()
		req, _ := http.NewRequest(method, in.balancer+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+bearer)
		req.Header.Set("Content-Type", "application/json")
		resp, err := in.direct(i).Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := range 2 {
		if got := api(i, "GET", "/api/v1/device/policy", ""); got != http.StatusOK {
			t.Errorf("device policy with the bearer token on instance %d: %d, want 200", i, got)
		}
	}
	if got := api(1, "PUT", "/api/v1/device/addresses", `{"addresses":["192.168.7.7"]}`); got != http.StatusOK {
		t.Fatalf("address report on B: %d, want 200", got)
	}
	devName := label + "." + zone + "."
	reported := time.Now()
	waitDig(t, in.a, devName, "A", devName+" 60 IN A 192.168.7.7")
	if d := time.Since(reported); d > time.Second {
		t.Errorf("A answered an address reported through B after %v, want within a second", d)
	}

	if r := in.a.admin(t, "device", "revoke", label); r.code != 0 {
		t.Fatalf("device revoke: %s", r)
	}
	revoked := time.Now()
	for _, iss := range []*issuer{in.a, in.b} {
		waitDig(t, iss, "192-168-7-7."+devName, "A", "status: NXDOMAIN")
	}
	if d := time.Since(revoked); d > time.Second {
		t.Errorf("both instances answered NXDOMAIN %v after the revocation, want within a second", d)
	}
	for i := range 2 {
		if got := api(i, "GET", "/api/v1/device/policy", ""); got != http.StatusUnauthorized {
			t.Errorf("device policy of a revoked device on instance %d: %d, want 401", i, got)
		}
	}
}
