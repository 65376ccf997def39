package doctor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
)

// maxRootPEM bounds the body of the issuer's /ca/root.pem.
const maxRootPEM = 64 << 10

// fetchRoot gets the issuer's root, to name it by its fingerprint in the
// fixes. It is not trusted for anything: the person compares the
// fingerprint with the one the hub shows.
func (d *doctor) fetchRoot(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	tr := &http.Transport{
		DialContext: d.dialContext,
		// Only the root's fingerprint is read over this connection.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(d.issuer.String(), "/")+"/ca/root.pem", nil)
	if err != nil {
		d.rootErr = err
		return
	}
	resp, err := client.Do(req)
	if err != nil {
		d.rootErr = err
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		d.rootErr = fmt.Errorf("GET %s: %s", req.URL, resp.Status)
		return
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxRootPEM))
	if err != nil {
		d.rootErr = fmt.Errorf("GET %s: %w", req.URL, err)
		return
	}
	b, _ := pem.Decode(body)
	if b == nil || b.Type != "CERTIFICATE" {
		d.rootErr = fmt.Errorf("GET %s: no PEM certificate in the answer", req.URL)
		return
	}
	d.root, d.rootErr = x509.ParseCertificate(b.Bytes)
}

// checkIssuer checks that the issuer answers and, over HTTPS, that its
// certificate is good and trusted here: the owner's browser needs it.
func (d *doctor) checkIssuer(ctx context.Context) {
	c := Check{Name: "issuer"}
	port := d.issuer.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[d.issuer.Scheme]
	}
	conn, err := d.dialContext(ctx, "tcp", net.JoinHostPort(d.issuer.Hostname(), port))
	if err != nil {
		c.Status, c.Detail = Fail, fmt.Sprintf("the issuer at %s does not answer: %v", d.issuer, err)
		c.Fix = "check the issuer's URL, that it runs, and that this machine is on its network"
		d.add(c)
		return
	}
	c.Status, c.Detail = OK, fmt.Sprintf("the issuer answers at %s", conn.RemoteAddr())
	if d.rootErr != nil {
		c.Status, c.Detail = Fail, fmt.Sprintf("the issuer answers at %s, but not with its root: %v", conn.RemoteAddr(), d.rootErr)
		c.Fix = "give the issuer's base URL, as its ready message prints it"
	} else if d.root != nil {
		c.Detail += fmt.Sprintf("; its root %q has SHA-256 fingerprint %s", d.root.Subject.CommonName, fingerprint(d.root.Raw))
	}
	d.add(c)
	if d.issuer.Scheme != "https" {
		conn.Close()
		return
	}
	d.checkTLS(ctx, conn, d.issuer.Hostname(), false)
}
