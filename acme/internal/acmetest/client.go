package acmetest

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Directory is the part of an ACME directory the client uses.
type Directory struct {
	NewNonce    string `json:"newNonce"`
	NewAccount  string `json:"newAccount"`
	NewOrder    string `json:"newOrder"`
	RevokeCert  string `json:"revokeCert"`
	KeyChange   string `json:"keyChange"`
	RenewalInfo string `json:"renewalInfo"`
	Meta        struct {
		ExternalAccountRequired bool              `json:"externalAccountRequired"`
		Profiles                map[string]string `json:"profiles"`
	} `json:"meta"`
}

// Client is a minimal ACME client that sends exactly what it is told, so
// tests can send what stock clients never would. It is not safe for
// concurrent use.
type Client struct {
	HTTP *http.Client
	Dir  Directory
	Key  crypto.Signer
	// KID is the account URL; empty until Register succeeds.
	KID string

	nonce string // from the last response, used once
}

// NewClient fetches the directory at dirURL.
func NewClient(ctx context.Context, hc *http.Client, dirURL string, key crypto.Signer) (*Client, error) {
	c := &Client{HTTP: hc, Key: key}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, dirURL, nil)
	if err != nil {
		return nil, err
	}
	res, err := c.do(req)
	if err != nil {
		return nil, err
	}
	if res.Status != http.StatusOK {
		return nil, fmt.Errorf("get directory: status %d", res.Status)
	}
	if err := json.Unmarshal(res.Body, &c.Dir); err != nil {
		return nil, fmt.Errorf("decode directory: %w", err)
	}
	return c, nil
}

// Response is an HTTP response with its body read.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Problem is an RFC 7807 document as a client sees it.
type Problem struct {
	Type        string     `json:"type"`
	Detail      string     `json:"detail"`
	Status      int        `json:"status"`
	Subproblems []*Problem `json:"subproblems"`
	Algorithms  []string   `json:"algorithms"`
	Identifier  *struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	} `json:"identifier"`
}

// Problem decodes the body as a problem document, or returns nil when the
// response is not one.
func (r *Response) Problem() *Problem {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") {
		return nil
	}
	var p Problem
	if json.Unmarshal(r.Body, &p) != nil {
		return nil
	}
	return &p
}

// Decode reads the JSON body into v.
func (r *Response) Decode(v any) error { return json.Unmarshal(r.Body, v) }

// Location returns the Location header.
func (r *Response) Location() string { return r.Header.Get("Location") }

// String summarizes r for test failures.
func (r *Response) String() string {
	return fmt.Sprintf("HTTP %d %s", r.Status, bytes.TrimSpace(r.Body))
}

// Request describes one signed POST. Zero fields take the client's
// defaults.
type Request struct {
	URL string
	// Payload: nil is POST-as-GET, []byte is sent as is, anything else is
	// marshalled to JSON.
	Payload any
	// Key signs; nil means the client's key.
	Key crypto.Signer
	// Alg overrides the algorithm named in the header.
	Alg string
	// JWK embeds the key instead of sending the client's KID.
	JWK bool
	// KID overrides the client's KID.
	KID string
	// Nonce is sent instead of a fresh one; NoNonce sends none.
	Nonce   string
	NoNonce bool
	// HeaderURL is the url header; empty means URL.
	HeaderURL string
	// Header adds or overrides protected header fields.
	Header map[string]any
	// ContentType overrides application/jose+json.
	ContentType string
	// Body is sent instead of the signed JWS.
	Body []byte
}

// Post signs payload with the client's key and account and POSTs it.
func (c *Client) Post(ctx context.Context, url string, payload any) (*Response, error) {
	return c.Do(ctx, Request{URL: url, Payload: payload})
}

// Do sends r.
func (c *Client) Do(ctx context.Context, r Request) (*Response, error) {
	body := r.Body
	if body == nil {
		f, err := c.sign(ctx, r)
		if err != nil {
			return nil, err
		}
		body = f.JSON()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	ct := r.ContentType
	if ct == "" {
		ct = "application/jose+json"
	}
	req.Header.Set("Content-Type", ct)
	return c.do(req)
}

// sign returns the JWS that Do sends for r.
func (c *Client) sign(ctx context.Context, r Request) (*Flattened, error) {
	key := r.Key
	if key == nil {
		key = c.Key
	}
	alg := r.Alg
	if alg == "" {
		alg = Algorithm(key)
	}
	h := map[string]any{"url": r.URL}
	if r.HeaderURL != "" {
		h["url"] = r.HeaderURL
	}
	kid := r.KID
	if kid == "" {
		kid = c.KID
	}
	if r.JWK || kid == "" {
		h["jwk"] = JWK(key.Public())
	} else {
		h["kid"] = kid
	}
	if !r.NoNonce {
		nonce := r.Nonce
		if nonce == "" {
			var err error
			if nonce, err = c.Nonce(ctx); err != nil {
				return nil, err
			}
		}
		h["nonce"] = nonce
	}
	for k, v := range r.Header {
		if v == nil {
			delete(h, k)
		} else {
			h[k] = v
		}
	}
	payload, err := encodePayload(r.Payload)
	if err != nil {
		return nil, err
	}
	return Sign(key, alg, h, payload)
}

func encodePayload(p any) ([]byte, error) {
	switch p := p.(type) {
	case nil:
		return nil, nil
	case []byte:
		return p, nil
	}
	return json.Marshal(p)
}

// Nonce returns the nonce of the last response, or a fresh one from
// newNonce.
func (c *Client) Nonce(ctx context.Context) (string, error) {
	if n := c.nonce; n != "" {
		c.nonce = ""
		return n, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, c.Dir.NewNonce, nil)
	if err != nil {
		return "", err
	}
	res, err := c.do(req)
	if err != nil {
		return "", err
	}
	c.nonce = ""
	n := res.Header.Get("Replay-Nonce")
	if n == "" {
		return "", errors.New("newNonce gave no Replay-Nonce")
	}
	return n, nil
}

func (c *Client) do(req *http.Request) (*Response, error) {
	res, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	c.nonce = res.Header.Get("Replay-Nonce")
	return &Response{Status: res.StatusCode, Header: res.Header, Body: body}, nil
}

// Binding returns an externalAccountBinding for the client's key under EAB
// key kid, MACed with alg (HS256 if empty).
func (c *Client) Binding(kid string, hmacKey []byte, alg string) (json.RawMessage, error) {
	if alg == "" {
		alg = "HS256"
	}
	f, err := Sign(hmacKey, alg, map[string]any{"kid": kid, "url": c.Dir.NewAccount}, JWK(c.Key.Public()))
	if err != nil {
		return nil, err
	}
	return f.JSON(), nil
}

// Register creates (or finds) the account of the client's key with an
// external account binding and remembers its URL.
func (c *Client) Register(ctx context.Context, kid string, hmacKey []byte) (*Response, error) {
	eab, err := c.Binding(kid, hmacKey, "")
	if err != nil {
		return nil, err
	}
	res, err := c.Do(ctx, Request{URL: c.Dir.NewAccount, JWK: true, Payload: map[string]any{
		"termsOfServiceAgreed":   true,
		"externalAccountBinding": eab,
	}})
	if err != nil {
		return nil, err
	}
	if res.Status == http.StatusCreated || res.Status == http.StatusOK {
		c.KID = res.Location()
	}
	return res, nil
}
