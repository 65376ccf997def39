package trust

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/lantls/lantls/ca/local"
)

// RootPath is where an issuer serves its root in DER, on its plain HTTP
// listener as on HTTPS.
const RootPath = "/ca/root.crt"

// maxRootSize bounds what Fetch reads: a root is under 2 kB.
const maxRootSize = 64 << 10

// Fetch gets the root from an issuer (its plain HTTP base URL, or the
// root's URL) and returns it only if its SHA-256 is fingerprint: nothing
// about the connection is trusted, so there is no trust on first use.
func Fetch(ctx context.Context, issuer string, fingerprint []byte) (*x509.Certificate, error) {
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("issuer %q is not an http:// URL, e.g. http://hub.lan:8080", issuer)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = RootPath
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Transport: &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		// The fingerprint, not the connection, decides: an https:// URL
		// of an issuer whose root is not trusted yet must work too.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch the root: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch the root: GET %s: %s", u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxRootSize+1))
	if err != nil {
		return nil, fmt.Errorf("fetch the root: %w", err)
	}
	if len(b) > maxRootSize {
		return nil, fmt.Errorf("fetch the root: GET %s: more than %d bytes, not a root certificate", u, maxRootSize)
	}
	root, err := ParseRoot(b)
	if err != nil {
		return nil, fmt.Errorf("fetch the root: GET %s: %w", u, err)
	}
	if !MatchFingerprint(root, fingerprint) {
		sum := sha256.Sum256(root.Raw)
		return nil, fmt.Errorf("the certificate at %s has SHA-256 %s, not the fingerprint given: do not trust it; "+
			"check the fingerprint on the issuer's own screen (lantls ca show, or its start-up output)",
			u, local.Fingerprint(sum[:]))
	}
	return root, nil
}
