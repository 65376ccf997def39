package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/lantls/lantls/names"
)

// Pairing is a user code waiting for the owner's approval (RFC 8628
// section 3.2), with what the owner's approval page shows of the device.
type Pairing struct {
	UserCode                string
	VerificationURI         string
	VerificationURIComplete string
	Expires                 time.Time
	// Label is the device label the pairing will give the device, derived
	// from its account key; Fingerprint is the same in groups of four, as
	// the owner's approval page shows it under "Key fingerprint". A
	// device shows it so that the owner can check they approve this
	// device and not another that showed the same code.
	Label       string
	Fingerprint string
	// Model and Hostname are what the device reported, which the
	// approval page shows as such.
	Model, Hostname string
}

const clientID = "lantls-agent"

// Pairing waits and backoffs.
const (
	// pairRetryMax caps the wait between attempts to start pairing: a
	// device that boots before its network or its issuer pairs within
	// this long of both being up.
	pairRetryMax = 30 * time.Second
	// pollRetryMax caps the poll interval after failed polls (RFC 8628
	// section 3.5 asks for a growing interval after a timeout; without a
	// cap an outage of a minute would delay the approval by another).
	pollRetryMax = 30 * time.Second
)

// pair runs the device authorization grant until the owner approves,
// starting over with a new code whenever one expires, and trying again
// with capped backoff while the issuer cannot be reached. It returns only
// on approval, a permanent error (ErrDenied, ErrUntrustedIssuer, an
// issuer that does not speak the protocol) or when ctx ends.
func (a *Agent) pair(ctx context.Context) error {
	failures := 0
	for {
		creds, err := a.pairOnce(ctx)
		switch {
		case err == nil:
			a.setPending(ctx, nil)
			if err := a.saveCredentials(ctx, creds); err != nil {
				return err
			}
			a.log.Info("paired", "label", creds.Label, "names", creds.Names)
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, errExpired):
			failures = 0
			a.log.Info("pairing code expired; asking for a new one")
			continue
		case permanent(err):
			a.setPending(ctx, nil)
			a.updateStatus(ctx, func(s *Status) { s.LastError, s.LastErrorAt = err.Error(), time.Now() })
			return err
		}
		failures++
		wait := backoff(a.cfg.RetryBase, min(a.cfg.RetryMax, pairRetryMax), failures)
		var se *statusError
		if errors.As(err, &se) && se.retryAfter > wait {
			wait = min(se.retryAfter, a.cfg.RetryMax)
		}
		a.fail(ctx, "start pairing", err)
		a.log.Info("trying to pair again", "in", wait.Round(time.Millisecond))
		if !sleepCtx(ctx, wait) {
			return ctx.Err()
		}
	}
}

var (
	errExpired = errors.New("expired_token")
	// errNotIssuer: the URL does not lead to a lantls issuer (a 404, or
	// an answer that is not the pairing endpoint's).
	errNotIssuer = errors.New("agent: no lantls issuer at this URL")
	// errBadAnswer: the issuer answered, but not as RFC 8628 says.
	errBadAnswer = errors.New("agent: the issuer's pairing answer is malformed")
)

func (a *Agent) pairOnce(ctx context.Context) (*credentials, error) {
	da, err := a.startPairing(ctx)
	if err != nil {
		return nil, err
	}
	label := names.Label(spkiOf(a.accountKey()))
	p := Pairing{
		UserCode:                da.UserCode,
		VerificationURI:         da.VerificationURI,
		VerificationURIComplete: da.VerificationURIComplete,
		Expires:                 time.Now().Add(time.Duration(da.ExpiresIn) * time.Second),
		Label:                   label,
		Fingerprint:             names.Grouped(label),
		Model:                   a.cfg.Model,
		Hostname:                a.cfg.Hostname,
	}
	if da.ExpiresIn <= 0 {
		p.Expires = time.Time{}
	}
	a.setPending(ctx, &p)
	if a.cfg.OnPairing != nil {
		a.cfg.OnPairing(p)
	} else {
		a.log.Info("to secure this device, approve it in your lantls issuer", "code", p.UserCode, "url", p.VerificationURIComplete,
			"fingerprint", p.Fingerprint, "expires", p.Expires.Format(time.RFC3339))
	}
	// RFC 8628 section 3.2: 5 seconds when the server names no interval.
	interval := 5 * time.Second
	if da.Interval > 0 {
		interval = time.Duration(da.Interval) * time.Second
	}
	wait := interval
	for {
		if !p.Expires.IsZero() && !time.Now().Before(p.Expires) {
			return nil, errExpired
		}
		if !sleepCtx(ctx, untilExpiry(wait, p.Expires, time.Now())) {
			return nil, ctx.Err()
		}
		tr, err := a.pollToken(ctx, da.DeviceCode)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if err := untrusted(err); errors.Is(err, ErrUntrustedIssuer) {
				return nil, err
			}
			// A network failure is not the owner's answer: keep polling,
			// and wait longer as RFC 8628 section 3.5 asks after a
			// timeout, up to a cap.
			a.log.Warn("poll for pairing token", "err", err)
			wait = pollBackoff(wait, interval)
			continue
		}
		wait = interval // a good poll: back to the server's interval
		switch tr.Error {
		case "":
			return a.credentialsFrom(tr)
		case "authorization_pending":
		case "slow_down":
			interval += 5 * time.Second // section 3.5: for this and every later request
			wait = interval
		case "access_denied":
			return nil, ErrDenied
		case "expired_token":
			return nil, errExpired
		default:
			return nil, fmt.Errorf("%w: %s %s", errBadAnswer, tr.Error, tr.Description)
		}
	}
}

// pollBackoff is the wait after a failed poll that waited wait: doubled,
// at least the server's interval, at most pollRetryMax unless the server's
// interval is longer. A good poll goes back to interval.
func pollBackoff(wait, interval time.Duration) time.Duration {
	return min(max(wait*2, interval), max(interval, pollRetryMax))
}

// untilExpiry is wait, shortened so as not to sleep past expires (zero:
// no expiry), when a new code is due.
func untilExpiry(wait time.Duration, expires, now time.Time) time.Duration {
	if expires.IsZero() {
		return wait
	}
	return max(min(wait, expires.Sub(now)), 0)
}

// sleepCtx waits d; it reports false when ctx ends first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
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
		return nil, fmt.Errorf("agent: start pairing: %w", untrusted(err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed:
		return nil, fmt.Errorf("%w %s (POST /pair/device_authorization: %s): give the issuer's base URL, e.g. https://hub.lan.example:8443, not its ACME directory or a page", errNotIssuer, a.cfg.Issuer, resp.Status)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("agent: start pairing: %w", newStatusError(resp, "POST /pair/device_authorization", body))
	}
	da := &deviceAuthorization{}
	if err := json.Unmarshal(body, da); err != nil {
		return nil, fmt.Errorf("%w %s: POST /pair/device_authorization answered no JSON (%v): give the issuer's base URL", errNotIssuer, a.cfg.Issuer, err)
	}
	if da.DeviceCode == "" || da.UserCode == "" || da.VerificationURI == "" {
		return nil, fmt.Errorf("%w: it lacks device_code, user_code or verification_uri", errBadAnswer)
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
	if resp.TLS != nil && len(resp.TLS.VerifiedChains) > 0 {
		chain := resp.TLS.VerifiedChains[0]
		tr.issuerCA = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: chain[len(chain)-1].Raw}))
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
		IssuerCA:   tr.issuerCA,
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
