package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Pairing is a user code waiting for the owner's approval (RFC 8628
// section 3.2).
type Pairing struct {
	UserCode                string
	VerificationURI         string
	VerificationURIComplete string
	Expires                 time.Time
}

// ErrDenied is what Run returns when the owner denied the device.
var ErrDenied = errors.New("agent: the owner denied this device (access_denied); run the agent again to show a new code")

const clientID = "lantls-agent"

// deviceAuthorization is the RFC 8628 section 3.2 response.
type deviceAuthorization struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int    `json:"expires_in"`
	Interval                int    `json:"interval"`
}

// tokenResponse is the RFC 8628 section 3.5 success response with the
// lantls extension, or its error response.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Lantls      *struct {
		Directory  string   `json:"directory"`
		EABKID     string   `json:"eab_kid"`
		EABHMACKey string   `json:"eab_hmac_key"`
		Label      string   `json:"label"`
		Zone       string   `json:"zone"`
		Names      []string `json:"names"`
	} `json:"lantls"`
}

// pair runs the device authorization grant until the owner approves,
// starting over with a new code whenever one expires.
func (a *Agent) pair(ctx context.Context) error {
	for {
		creds, err := a.pairOnce(ctx)
		if errors.Is(err, errExpired) {
			a.log.Info("pairing code expired; asking for a new one")
			continue
		}
		if err != nil {
			a.updateStatus(ctx, func(s *Status) { s.LastError, s.LastErrorAt = err.Error(), time.Now() })
			return err
		}
		a.pending.Store(nil)
		if err := a.saveCredentials(ctx, creds); err != nil {
			return err
		}
		a.log.Info("paired", "label", creds.Label, "names", creds.Names)
		return nil
	}
}

var errExpired = errors.New("expired_token")

func (a *Agent) pairOnce(ctx context.Context) (*credentials, error) {
	da, err := a.startPairing(ctx)
	if err != nil {
		return nil, err
	}
	p := Pairing{
		UserCode:                da.UserCode,
		VerificationURI:         da.VerificationURI,
		VerificationURIComplete: da.VerificationURIComplete,
		Expires:                 time.Now().Add(time.Duration(da.ExpiresIn) * time.Second),
	}
	a.pending.Store(&p)
	if a.cfg.OnPairing != nil {
		a.cfg.OnPairing(p)
	} else {
		a.log.Info("waiting for the owner to approve", "user_code", p.UserCode, "url", p.VerificationURIComplete)
	}
	// RFC 8628 section 3.2: 5 seconds when the server names no interval.
	interval := 5 * time.Second
	if da.Interval > 0 {
		interval = time.Duration(da.Interval) * time.Second
	}
	for {
		if !p.Expires.IsZero() && da.ExpiresIn > 0 && time.Now().After(p.Expires) {
			return nil, errExpired
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(interval):
		}
		tr, err := a.pollToken(ctx, da.DeviceCode)
		if err != nil {
			// A network failure is not the owner's answer: keep polling,
			// and wait longer as RFC 8628 section 3.5 asks after a timeout.
			a.log.Warn("poll for pairing token", "err", err)
			interval *= 2
			continue
		}
		switch tr.Error {
		case "":
			return a.credentialsFrom(tr)
		case "authorization_pending":
		case "slow_down":
			interval += 5 * time.Second // section 3.5: for this and every later request
		case "access_denied":
			return nil, ErrDenied
		case "expired_token":
			return nil, errExpired
		default:
			return nil, fmt.Errorf("agent: pairing failed: %s %s", tr.Error, tr.Description)
		}
	}
}

func (a *Agent) startPairing(ctx context.Context) (*deviceAuthorization, error) {
	jwk, err := publicJWK(a.accountKey())
	if err != nil {
		return nil, err
	}
	form := url.Values{
		"client_id":  {clientID},
		"public_key": {jwk},
		"model":      {a.cfg.Model},
		"hostname":   {a.cfg.Hostname},
	}
	resp, err := a.postForm(ctx, "/pair/device_authorization", form)
	if err != nil {
		return nil, fmt.Errorf("agent: start pairing: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("agent: start pairing: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	da := &deviceAuthorization{}
	if err := json.Unmarshal(body, da); err != nil {
		return nil, fmt.Errorf("agent: start pairing: %w", err)
	}
	if da.DeviceCode == "" || da.UserCode == "" || da.VerificationURI == "" {
		return nil, errors.New("agent: start pairing: the issuer's answer lacks device_code, user_code or verification_uri")
	}
	if da.VerificationURIComplete == "" {
		da.VerificationURIComplete = da.VerificationURI
	}
	return da, nil
}

func (a *Agent) pollToken(ctx context.Context, deviceCode string) (*tokenResponse, error) {
	resp, err := a.postForm(ctx, "/pair/token", url.Values{
		"grant_type":  {"urn:ietf:params:oauth:grant-type:device_code"},
		"device_code": {deviceCode},
		"client_id":   {clientID},
	})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	tr := &tokenResponse{}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(tr); err != nil {
		return nil, fmt.Errorf("%s: %w", resp.Status, err)
	}
	if resp.StatusCode != http.StatusOK && tr.Error == "" {
		return nil, fmt.Errorf("%s without an error code", resp.Status)
	}
	return tr, nil
}

func (a *Agent) credentialsFrom(tr *tokenResponse) (*credentials, error) {
	l := tr.Lantls
	if tr.AccessToken == "" || l == nil || l.Directory == "" || l.EABKID == "" || l.EABHMACKey == "" || len(l.Names) == 0 {
		return nil, errors.New("agent: pairing approved, but the token response lacks access_token or lantls{directory, eab_kid, eab_hmac_key, names}")
	}
	c := &credentials{
		Issuer:     a.cfg.Issuer,
		Token:      tr.AccessToken,
		Directory:  l.Directory,
		EABKID:     l.EABKID,
		EABHMACKey: l.EABHMACKey,
		Label:      l.Label,
		Zone:       l.Zone,
		Names:      l.Names,
	}
	if tr.ExpiresIn > 0 {
		c.TokenExpires = time.Now().Add(time.Duration(tr.ExpiresIn) * time.Second)
	}
	return c, nil
}

func (a *Agent) postForm(ctx context.Context, path string, form url.Values) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.cfg.Issuer+path, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	return a.httpc.Do(req)
}

// publicJWK is the RFC 7517 JSON form of key's public half.
func publicJWK(key *ecdsa.PrivateKey) (string, error) {
	pub, err := key.PublicKey.Bytes() // uncompressed point: 0x04 || X || Y
	if err != nil {
		return "", fmt.Errorf("agent: encode public key: %w", err)
	}
	n := (len(pub) - 1) / 2
	b, err := json.Marshal(map[string]string{
		"kty": "EC",
		"crv": "P-256",
		"x":   base64.RawURLEncoding.EncodeToString(pub[1 : 1+n]),
		"y":   base64.RawURLEncoding.EncodeToString(pub[1+n:]),
	})
	return string(b), err
}

// spkiOf is the DER SubjectPublicKeyInfo the issuer derives the label from.
func spkiOf(key *ecdsa.PrivateKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	return der
}
