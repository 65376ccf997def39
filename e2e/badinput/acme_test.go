package badinput

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
)

// A hand-written ACME client: the catalogue needs requests no library
// would send (alg none, replayed nonces, duplicate keys), so JWS is built
// here from crypto/ecdsa and encoding/json.

var b64 = base64.RawURLEncoding

type acmeClient struct {
	e   *env
	dir map[string]string
	key *ecdsa.PrivateKey
	kid string // account URL once registered
}

func newACME(t *testing.T, e *env) *acmeClient {
	t.Helper()
	c := &acmeClient{e: e, key: newKey(t)}
	resp, err := e.client.Get(e.base + "/acme/directory")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var dir map[string]any
	json.Unmarshal(readAll(resp.Body), &dir)
	c.dir = map[string]string{}
	for k, v := range dir {
		if s, ok := v.(string); ok {
			c.dir[k] = s
		}
	}
	return c
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func jwk(k *ecdsa.PrivateKey) string {
	pub, _ := k.PublicKey.ECDH()
	raw := pub.Bytes() // 0x04 || X || Y
	return fmt.Sprintf(`{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}`, b64.EncodeToString(raw[1:33]), b64.EncodeToString(raw[33:]))
}

func (c *acmeClient) nonce(t *testing.T) string {
	t.Helper()
	resp, err := c.e.client.Head(c.dir["newNonce"])
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("Replay-Nonce")
}

// protected is the usual protected header for url: kid once registered,
// jwk before.
func (c *acmeClient) protected(t *testing.T, url string) string {
	if c.kid != "" {
		return fmt.Sprintf(`{"alg":"ES256","kid":%q,"nonce":%q,"url":%q}`, c.kid, c.nonce(t), url)
	}
	return fmt.Sprintf(`{"alg":"ES256","jwk":%s,"nonce":%q,"url":%q}`, jwk(c.key), c.nonce(t), url)
}

// jws signs protected and payload (both JSON text, payload "" for
// POST-as-GET) with c.key.
func (c *acmeClient) jws(protected, payload string) []byte {
	p, pl := b64.EncodeToString([]byte(protected)), b64.EncodeToString([]byte(payload))
	return []byte(fmt.Sprintf(`{"protected":%q,"payload":%q,"signature":%q}`, p, pl, b64.EncodeToString(sign(c.key, p+"."+pl))))
}

func sign(k *ecdsa.PrivateKey, input string) []byte {
	h := sha256.Sum256([]byte(input))
	r, s, _ := ecdsa.Sign(rand.Reader, k, h[:])
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return sig
}

// post sends body to url as application/jose+json.
func (c *acmeClient) post(t *testing.T, url string, body []byte) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/jose+json")
	resp, err := c.e.client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	return resp
}

// signed posts payload to url with the usual header.
func (c *acmeClient) signed(t *testing.T, url, payload string) *http.Response {
	t.Helper()
	return c.post(t, url, c.jws(c.protected(t, url), payload))
}

// eab is the external account binding of d for c's key.
func (c *acmeClient) eab(d *deviceJSON, macKey []byte) string {
	url := c.dir["newAccount"]
	p := b64.EncodeToString([]byte(fmt.Sprintf(`{"alg":"HS256","kid":%q,"url":%q}`, d.EABKID, url)))
	pl := b64.EncodeToString([]byte(jwk(c.key)))
	m := hmac.New(sha256.New, macKey)
	m.Write([]byte(p + "." + pl))
	return fmt.Sprintf(`{"protected":%q,"payload":%q,"signature":%q}`, p, pl, b64.EncodeToString(m.Sum(nil)))
}

// register makes c's account with d's EAB key and remembers its URL.
func (c *acmeClient) register(t *testing.T, d *deviceJSON) {
	t.Helper()
	mac, err := b64.DecodeString(d.EABHMACKey)
	if err != nil {
		t.Fatal(err)
	}
	resp := c.signed(t, c.dir["newAccount"], `{"termsOfServiceAgreed":true,"externalAccountBinding":`+c.eab(d, mac)+`}`)
	defer resp.Body.Close()
	body := readAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("newAccount: %s %s", resp.Status, body)
	}
	c.kid = resp.Header.Get("Location")
}

// order places an order for names and returns its finalize URL.
func (c *acmeClient) order(t *testing.T, names ...string) string {
	t.Helper()
	var ids []string
	for _, n := range names {
		ids = append(ids, fmt.Sprintf(`{"type":"dns","value":%q}`, n))
	}
	resp := c.signed(t, c.dir["newOrder"], `{"identifiers":[`+strings.Join(ids, ",")+`]}`)
	defer resp.Body.Close()
	body := readAll(resp.Body)
	var o struct{ Finalize string }
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(body, &o) != nil {
		t.Fatalf("newOrder %v: %s %s", names, resp.Status, body)
	}
	return o.Finalize
}

// csr is a CSR for names and ips, with a new key.
func csr(t *testing.T, names []string, ips ...string) string {
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{}, DNSNames: names}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	k, _ := newKeyNoT()
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, crypto.Signer(k))
	if err != nil {
		panic(err) // only with a broken crypto/rand
	}
	return b64.EncodeToString(der)
}
