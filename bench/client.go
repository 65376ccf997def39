package bench

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// The lean ACME client below does exactly the requests of one issuance and
// nothing else: it is the load generator, and it shares the machine with
// the server it measures, so every microsecond it spends is taken from the
// server. It signs ES256 JWS by hand (no JOSE library), keeps the nonce of
// the last response, and retries a request once per badNonce as RFC 8555
// section 6.5 asks of clients.

// directory is the part of an ACME directory an issuance uses.
type directory struct {
	NewNonce   string `json:"newNonce"`
	NewAccount string `json:"newAccount"`
	NewOrder   string `json:"newOrder"`
}

// Problem is an RFC 7807 problem document an ACME server answered with.
type Problem struct {
	Type   string `json:"type"`
	Detail string `json:"detail"`
	Status int    `json:"status"`
}

func (p *Problem) Error() string {
	return fmt.Sprintf("%s (HTTP %d): %s", p.Type, p.Status, p.Detail)
}

// maxBadNonceRetries is how often one request is resent after badNonce.
const maxBadNonceRetries = 3

const problemBadNonce = "urn:ietf:params:acme:error:badNonce"

// acmeClient is one simulated device's ACME account session.
type acmeClient struct {
	hc    *http.Client
	dir   *directory
	key   *ecdsa.PrivateKey
	jwk   []byte // public JWK, RFC 7638 member order, so also the thumbprint input
	thumb string // base64url SHA-256 of jwk
	kid   string // account URL once registered
	nonce string
	// Protected-header prefixes, encoded once: with the JWK (before
	// registration) and with the account URL (kidHeaderFor) after it.
	jwkHeader, kidHeader []byte
	kidHeaderFor         string
	hdr                  []byte // scratch for the protected header
	// badNonces counts resent requests, for the report.
	badNonces int
}

func newACMEClient(hc *http.Client, dir *directory, key *ecdsa.PrivateKey) *acmeClient {
	var pub [65]byte
	p256Point(pub[:], key)
	jwk := []byte(`{"crv":"P-256","kty":"EC","x":"` + b64(pub[1:33]) + `","y":"` + b64(pub[33:65]) + `"}`)
	sum := sha256.Sum256(jwk)
	return &acmeClient{hc: hc, dir: dir, key: key, jwk: jwk, thumb: b64(sum[:])}
}

// fetchDirectory GETs the directory at url.
func fetchDirectory(ctx context.Context, hc *http.Client, url string) (*directory, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get directory: %w", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("get directory: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("get directory %s: HTTP %d: %.200s", url, res.StatusCode, body)
	}
	var d directory
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, fmt.Errorf("get directory %s: %w", url, err)
	}
	if d.NewNonce == "" || d.NewAccount == "" || d.NewOrder == "" {
		return nil, fmt.Errorf("directory %s lacks newNonce, newAccount or newOrder", url)
	}
	return &d, nil
}

// newNonce fetches a first nonce with HEAD newNonce.
func (c *acmeClient) newNonce(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, c.dir.NewNonce, nil)
	if err != nil {
		return err
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusNoContent {
		return fmt.Errorf("HTTP %d from newNonce", res.StatusCode)
	}
	if c.nonce = res.Header.Get("Replay-Nonce"); c.nonce == "" {
		return errors.New("newNonce answered without Replay-Nonce")
	}
	return nil
}

// response is what post returns: the status, headers and body of a
// successful (2xx) answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// post sends payload (nil for POST-as-GET) to url signed with the account
// key: with the JWK when the account is not registered yet, else with its
// URL. A problem document comes back as a *Problem error.
func (c *acmeClient) post(ctx context.Context, url string, payload []byte, accept string) (*response, error) {
	for try := 0; ; try++ {
		res, err := c.postOnce(ctx, url, payload, accept)
		var p *Problem
		if errors.As(err, &p) && p.Type == problemBadNonce && try < maxBadNonceRetries {
			c.badNonces++
			continue
		}
		return res, err
	}
}

func (c *acmeClient) postOnce(ctx context.Context, url string, payload []byte, accept string) (*response, error) {
	if c.nonce == "" {
		if err := c.newNonce(ctx); err != nil {
			return nil, err
		}
	}
	body, err := c.signedBody(url, payload)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if accept != "" {
		req.Header = http.Header{"Content-Type": joseContentType, "Accept": {accept}}
	} else {
		req.Header = http.Header{"Content-Type": joseContentType}
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	c.nonce = res.Header.Get("Replay-Nonce")
	b, err := readBody(res)
	if err != nil {
		return nil, err
	}
	if res.StatusCode >= 300 {
		return nil, responseError(res, b)
	}
	return &response{status: res.StatusCode, header: res.Header, body: b}, nil
}

// joseContentType is the Content-Type of every POST; the transport only
// reads it.
var joseContentType = []string{"application/jose+json"}

// maxBody is the most of a response body that is read.
const maxBody = 1 << 20

// readBody reads res.Body to its end, at most maxBody bytes, like
// io.ReadAll but into one buffer of the announced length when there is one.
func readBody(res *http.Response) ([]byte, error) {
	n := res.ContentLength
	if n < 0 || n > maxBody {
		return io.ReadAll(io.LimitReader(res.Body, maxBody))
	}
	b := make([]byte, 0, n+1) // +1: room to see the end
	r := io.LimitReader(res.Body, maxBody)
	for {
		m, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+m]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // longer than announced: grow
		}
	}
}

// responseError turns an error response into a *Problem, or a plain error
// when the body is not a problem document.
func responseError(res *http.Response, body []byte) error {
	mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type"))
	if mt == "application/problem+json" {
		p := &Problem{}
		if err := json.Unmarshal(body, p); err == nil && p.Type != "" {
			if p.Status == 0 {
				p.Status = res.StatusCode
			}
			return p
		}
	}
	return &Problem{Type: "http-" + strconv.Itoa(res.StatusCode), Status: res.StatusCode, Detail: fmt.Sprintf("%.200s", body)}
}

// protectedHeader is a JWS protected header of RFC 8555 section 6.2.
type protectedHeader struct {
	Alg   string          `json:"alg"`
	JWK   json.RawMessage `json:"jwk,omitempty"`
	KID   string          `json:"kid,omitempty"`
	Nonce string          `json:"nonce,omitempty"`
	URL   string          `json:"url"`
}

// flattened is a JWS in flattened JSON serialization.
type flattened struct {
	Protected string `json:"protected"`
	Payload   string `json:"payload"`
	Signature string `json:"signature"`
}

// signedBody returns the ES256 JWS of payload for url, in flattened JSON
// serialization. It writes the same bytes encoding/json would for
// protectedHeader and flattened (same member order, same escaping), but by
// appending to one buffer: the header's fixed part ({"alg":"ES256","jwk":...
// or "kid":...) is encoded once per account, not per request.
func (c *acmeClient) signedBody(url string, payload []byte) ([]byte, error) {
	if c.kid != "" {
		if c.kidHeader == nil || c.kidHeaderFor != c.kid {
			c.kidHeader = appendJSONString(append([]byte(nil), `{"alg":"ES256","kid":`...), c.kid)
			c.kidHeader = append(c.kidHeader, ',')
			c.kidHeaderFor = c.kid
		}
		c.hdr = append(c.hdr[:0], c.kidHeader...)
	} else {
		if c.jwkHeader == nil {
			c.jwkHeader = append(append(append([]byte(nil), `{"alg":"ES256","jwk":`...), c.jwk...), ',')
		}
		c.hdr = append(c.hdr[:0], c.jwkHeader...)
	}
	if c.nonce != "" {
		c.hdr = appendJSONString(append(c.hdr, `"nonce":`...), c.nonce)
		c.hdr = append(c.hdr, ',')
	}
	c.hdr = appendJSONString(append(c.hdr, `"url":`...), url)
	c.hdr = append(c.hdr, '}')
	c.nonce = "" // spent, whatever happens next

	enc := base64.RawURLEncoding
	const (
		open   = `{"protected":"`
		middle = `","payload":"`
		sigKey = `","signature":"`
		end    = `"}`
	)
	// A fresh buffer per request: the transport may still be reading the
	// body of this request when the next one is built.
	body := make([]byte, 0, len(open)+enc.EncodedLen(len(c.hdr))+len(middle)+enc.EncodedLen(len(payload))+len(sigKey)+enc.EncodedLen(64)+len(end))
	body = append(body, open...)
	protected := len(body)
	body = enc.AppendEncode(body, c.hdr)
	protectedEnd := len(body)
	body = append(body, middle...)
	payloadStart := len(body)
	body = enc.AppendEncode(body, payload)
	h := sha256.New()
	h.Write(body[protected:protectedEnd])
	h.Write([]byte{'.'})
	h.Write(body[payloadStart:])
	var digest [sha256.Size]byte
	sig, err := signES256(c.key, h.Sum(digest[:0]))
	if err != nil {
		return nil, fmt.Errorf("sign request: %w", err)
	}
	body = append(body, sigKey...)
	body = enc.AppendEncode(body, sig[:])
	return append(body, end...), nil
}

// signES256 signs the SHA-256 digest and returns the JWS form of the
// signature, R and S as 32 bytes each (RFC 7518 section 3.4).
func signES256(key *ecdsa.PrivateKey, digest []byte) (sig [64]byte, err error) {
	der, err := signP256(key, digest)
	if err != nil {
		return sig, err
	}
	var r, s []byte
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1Integer(&r) || !seq.ReadASN1Integer(&s) || !seq.Empty() {
		return sig, errors.New("malformed ECDSA signature")
	}
	if !putScalar(sig[:32], r) || !putScalar(sig[32:], s) {
		return sig, errors.New("malformed ECDSA signature")
	}
	return sig, nil
}

// signP256 signs the SHA-256 digest with key and returns the ASN.1
// signature. Its nonce is derived as RFC 6979 says, from the key and the
// digest with HMAC-SHA-256, rather than with crypto/ecdsa's randomized
// HMAC-SHA-512 generator: the signature is as valid and costs the server
// the same to verify, and every message the client signs differs (each
// carries a new nonce or key), but it takes the client about a fifth less
// CPU.
func signP256(key *ecdsa.PrivateKey, digest []byte) ([]byte, error) {
	return key.Sign(nil, digest, crypto.SHA256)
}

// putScalar writes the big-endian integer v, left-padded with zeros, into
// dst; false if it does not fit.
func putScalar(dst, v []byte) bool {
	for len(v) > 0 && v[0] == 0 {
		v = v[1:]
	}
	if len(v) > len(dst) {
		return false
	}
	copy(dst[len(dst)-len(v):], v)
	return true
}

// appendJSONString appends s as a JSON string, byte for byte as
// encoding/json writes it. Nonces and URLs need no escaping, so they are
// copied; anything else goes through encoding/json.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x20 || b >= 0x7f || b == '"' || b == '\\' || b == '<' || b == '>' || b == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(dst, q...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// eabJWS returns the external account binding of RFC 8555 section 7.3.4:
// the account's JWK signed with HS256 under the EAB key.
func (c *acmeClient) eabJWS(kid string, hmacKey []byte) (json.RawMessage, error) {
	hb, err := json.Marshal(protectedHeader{Alg: "HS256", KID: kid, URL: c.dir.NewAccount})
	if err != nil {
		return nil, err
	}
	f := flattened{Protected: b64(hb), Payload: b64(c.jwk)}
	mac := hmac.New(sha256.New, hmacKey)
	mac.Write([]byte(f.Protected + "." + f.Payload))
	f.Signature = b64(mac.Sum(nil))
	return json.Marshal(f)
}

// register creates the account, with an EAB when kid is set.
func (c *acmeClient) register(ctx context.Context, kid string, hmacKey []byte) error {
	p := struct {
		TermsOfServiceAgreed   bool            `json:"termsOfServiceAgreed"`
		ExternalAccountBinding json.RawMessage `json:"externalAccountBinding,omitempty"`
	}{TermsOfServiceAgreed: true}
	if kid != "" {
		var err error
		if p.ExternalAccountBinding, err = c.eabJWS(kid, hmacKey); err != nil {
			return err
		}
	}
	payload, err := json.Marshal(p)
	if err != nil {
		return err
	}
	res, err := c.post(ctx, c.dir.NewAccount, payload, "")
	if err != nil {
		return err
	}
	if c.kid = res.header.Get("Location"); c.kid == "" {
		return errors.New("newAccount answered without Location")
	}
	return nil
}

// identifier is an ACME identifier.
type identifier struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// order is the part of an ACME order an issuance reads.
type order struct {
	url            string
	Status         string   `json:"status"`
	Authorizations []string `json:"authorizations"`
	Finalize       string   `json:"finalize"`
	Certificate    string   `json:"certificate"`
	Error          *Problem `json:"error"`
}

// newOrder orders ids.
func (c *acmeClient) newOrder(ctx context.Context, ids []identifier) (*order, error) {
	payload, err := json.Marshal(struct {
		Identifiers []identifier `json:"identifiers"`
	}{ids})
	if err != nil {
		return nil, err
	}
	res, err := c.post(ctx, c.dir.NewOrder, payload, "")
	if err != nil {
		return nil, err
	}
	o := &order{url: res.header.Get("Location")}
	if err := json.Unmarshal(res.body, o); err != nil {
		return nil, fmt.Errorf("decode order: %w", err)
	}
	if o.url == "" || o.Finalize == "" {
		return nil, errors.New("newOrder answered without Location or finalize URL")
	}
	return o, nil
}

// authorization is the part of an ACME authorization an issuance reads.
type authorization struct {
	url        string
	retryAfter time.Duration
	Status     string      `json:"status"`
	Identifier identifier  `json:"identifier"`
	Wildcard   bool        `json:"wildcard"`
	Challenges []challenge `json:"challenges"`
}

type challenge struct {
	Type   string   `json:"type"`
	URL    string   `json:"url"`
	Token  string   `json:"token"`
	Status string   `json:"status"`
	Error  *Problem `json:"error"`
}

// getAuthorization fetches an authorization with POST-as-GET.
func (c *acmeClient) getAuthorization(ctx context.Context, url string) (*authorization, error) {
	res, err := c.post(ctx, url, nil, "")
	if err != nil {
		return nil, err
	}
	a := &authorization{url: url, retryAfter: retryAfter(res.header)}
	if err := json.Unmarshal(res.body, a); err != nil {
		return nil, fmt.Errorf("decode authorization: %w", err)
	}
	return a, nil
}

// accept tells the server to validate ch and returns the challenge as
// answered: a server that validates at once says valid or invalid here.
func (c *acmeClient) accept(ctx context.Context, ch *challenge) (*challenge, error) {
	res, err := c.post(ctx, ch.URL, []byte("{}"), "")
	if err != nil {
		return nil, err
	}
	var got challenge
	if err := json.Unmarshal(res.body, &got); err != nil {
		return nil, fmt.Errorf("decode challenge: %w", err)
	}
	return &got, nil
}

// keyAuthorization is the http-01 response body for token.
func (c *acmeClient) keyAuthorization(token string) string { return token + "." + c.thumb }

// finalize sends the CSR (DER) and returns the order as answered.
func (c *acmeClient) finalize(ctx context.Context, o *order, csr []byte) (*order, time.Duration, error) {
	payload, err := json.Marshal(struct {
		CSR string `json:"csr"`
	}{b64(csr)})
	if err != nil {
		return nil, 0, err
	}
	res, err := c.post(ctx, o.Finalize, payload, "")
	if err != nil {
		return nil, 0, err
	}
	next := &order{url: o.url}
	if err := json.Unmarshal(res.body, next); err != nil {
		return nil, 0, fmt.Errorf("decode order: %w", err)
	}
	return next, retryAfter(res.header), nil
}

// getOrder fetches an order with POST-as-GET.
func (c *acmeClient) getOrder(ctx context.Context, url string) (*order, time.Duration, error) {
	res, err := c.post(ctx, url, nil, "")
	if err != nil {
		return nil, 0, err
	}
	o := &order{url: url}
	if err := json.Unmarshal(res.body, o); err != nil {
		return nil, 0, fmt.Errorf("decode order: %w", err)
	}
	return o, retryAfter(res.header), nil
}

// certificate downloads the chain and returns its DER certificates, leaf
// first.
func (c *acmeClient) certificate(ctx context.Context, url string) ([][]byte, error) {
	res, err := c.post(ctx, url, nil, "application/pem-certificate-chain")
	if err != nil {
		return nil, err
	}
	var chain [][]byte
	rest := res.body
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			chain = append(chain, b.Bytes)
		}
	}
	if len(chain) == 0 {
		return nil, errors.New("certificate download holds no PEM certificate")
	}
	return chain, nil
}

// retryAfter reads a Retry-After header in seconds or as an HTTP date; 0
// when absent.
func retryAfter(h http.Header) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// decodeKey decodes an EAB HMAC key: base64url as lantls, certbot, lego and
// Pebble take it, with or without padding; standard base64 is accepted too.
func decodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.StdEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) > 0 {
			return b, nil
		}
	}
	return nil, fmt.Errorf("EAB HMAC key is not base64url")
}
