package doctor

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// reach opens a TCP connection to the device's port at the first address
// that answers.
func (d *doctor) reach(ctx context.Context, addrs []netip.Addr) (net.Conn, Check) {
	c := Check{Name: "reach"}
	dialer := &net.Dialer{Timeout: d.cfg.Timeout}
	var errs []string
	for _, a := range addrs {
		target := net.JoinHostPort(a.String(), d.port)
		conn, err := dialer.DialContext(ctx, "tcp", target)
		if err == nil {
			c.Status, c.Detail = OK, fmt.Sprintf("%s answers on TCP", target)
			return conn, c
		}
		errs = append(errs, err.Error())
	}
	c.Status, c.Detail = Fail, "no address answered: "+strings.Join(errs, "; ")
	c.Fix = fmt.Sprintf("put this machine on the device's network, make sure its agent runs (its log says \"serving certificate\"), and that nothing blocks TCP port %s to it", d.port)
	return nil, c
}

// checkTLS shakes hands over conn and checks the certificate the server
// shows: for name and in date, chained to a root the system trusts, to
// one each NSS database trusts, and renewing in time (device only).
func (d *doctor) checkTLS(ctx context.Context, conn net.Conn, name string, device bool) {
	prefix := ""
	if !device {
		prefix = "issuer-"
	}
	// The chain is verified below, check by check, so that each fault gets
	// its own finding: a handshake that verified would say only the first.
	tc := tls.Client(conn, &tls.Config{ServerName: name, InsecureSkipVerify: true}) //nolint:gosec
	defer tc.Close()
	hctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		d.add(Check{Name: prefix + "certificate", Status: Fail,
			Detail: fmt.Sprintf("TLS handshake with %s: %v", conn.RemoteAddr(), err),
			Fix:    "something other than the lantls agent answers this port; point the name at the agent's HTTPS port"})
		d.skip("no TLS handshake", prefix+"trust", prefix+"trust-nss")
		if device {
			d.skip("no TLS handshake", "renewal")
		}
		return
	}
	chain := tc.ConnectionState().PeerCertificates
	leaf := chain[0]
	now := d.cfg.Now()
	d.add(d.checkCertificate(leaf, name, now, device))
	d.add(d.checkTrust(prefix, chain, now))
	d.add(d.checkNSS(ctx, prefix, chain, now))
	if device {
		d.add(checkRenewal(leaf, now))
	}
}

func (d *doctor) checkCertificate(leaf *x509.Certificate, name string, now time.Time, device bool) Check {
	c := Check{Name: "certificate", Status: Fail}
	if !device {
		c.Name = "issuer-certificate"
	}
	renew := "the device's agent has not renewed it: read the device's last error on its page in the issuer's web UI, then restart the agent on the device"
	if !device {
		renew = "restart the issuer, which renews its own certificate"
	}
	switch {
	case now.After(leaf.NotAfter):
		c.Detail = fmt.Sprintf("the certificate (serial %x) expired on %s", leaf.SerialNumber, leaf.NotAfter.UTC().Format(time.RFC3339))
		c.Fix = renew
	case now.Before(leaf.NotBefore):
		c.Detail = fmt.Sprintf("the certificate is valid only from %s, after this machine's time %s", leaf.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		c.Fix = "set this machine's clock (NTP)"
	case leaf.VerifyHostname(name) != nil:
		c.Detail = fmt.Sprintf("the certificate is for %s, not %s", strings.Join(leaf.DNSNames, ", "), name)
		c.Fix = "use one of the names it carries; a new short name is in the device's next certificate (restart its agent to get it now)"
	default:
		c.Status = OK
		c.Detail = fmt.Sprintf("valid for %s until %s (%s)", name, leaf.NotAfter.UTC().Format(time.RFC3339), daysLeft(leaf.NotAfter.Sub(now)))
	}
	return c
}

// verifyTime is when to judge a chain's trust: now, or for a certificate
// that is out of date (its own finding) a moment inside its lifetime.
func verifyTime(leaf *x509.Certificate, now time.Time) time.Time {
	if now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		return leaf.NotAfter.Add(-time.Second)
	}
	return now
}

func verify(chain []*x509.Certificate, roots *x509.CertPool, at time.Time) error {
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: at})
	return err
}

func (d *doctor) checkTrust(prefix string, chain []*x509.Certificate, now time.Time) Check {
	c := Check{Name: prefix + "trust"}
	roots := d.cfg.Roots
	if roots == nil {
		var err error
		if roots, err = x509.SystemCertPool(); err != nil {
			c.Status, c.Detail = Fail, fmt.Sprintf("read the system's trust store: %v", err)
			c.Fix = "install the ca-certificates package"
			return c
		}
	}
	err := verify(chain, roots, verifyTime(chain[0], now))
	if err == nil {
		c.Status, c.Detail = OK, "the chain verifies against this machine's trusted roots (Go, OpenSSL and curl use them)"
		return c
	}
	c.Status = Fail
	var ua x509.UnknownAuthorityError
	var ci x509.CertificateInvalidError
	switch {
	case errors.As(err, &ua):
		c.Detail = fmt.Sprintf("the root that signed it (%s) is not trusted on this machine", chain[len(chain)-1].Issuer.CommonName)
		c.Fix = d.trustFix()
	case errors.As(err, &ci) && ci.Reason == x509.CANotAuthorizedForThisName:
		c.Detail = fmt.Sprintf("the certificate names something its CA may not vouch for: %v", err)
		c.Fix = "the device's names must be inside the zone its root permits: pair it with the issuer of that zone"
	default:
		c.Detail = fmt.Sprintf("the chain does not verify: %v", err)
		c.Fix = d.trustFix()
	}
	return c
}

// trustFix says how to trust the issuer's root.
func (d *doctor) trustFix() string {
	if d.root != nil {
		return fmt.Sprintf("trust the issuer's root (SHA-256 %s): lantls trust install --issuer %s --fingerprint %s, or follow %s/trust on each client", fingerprint(d.root.Raw), d.issuer, fingerprint(d.root.Raw), strings.TrimSuffix(d.issuer.String(), "/"))
	}
	return "trust the issuer's root: lantls trust install --issuer URL --fingerprint SHA256 (the fingerprint is on the issuer's /trust page), or follow that page on each client"
}

// checkRenewal says when the device should renew: the issuer's ARI window
// (RFC 9773) runs from a third to a sixth of the lifetime before expiry,
// so a certificate with less than a sixth left has missed it.
func checkRenewal(leaf *x509.Certificate, now time.Time) Check {
	c := Check{Name: "renewal"}
	if now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		c.Status, c.Detail = Skip, "skipped: the certificate is out of date (above)"
		return c
	}
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	start, end := leaf.NotAfter.Add(-life/3), leaf.NotAfter.Add(-life/6)
	if now.After(end) {
		c.Status = Fail
		c.Detail = fmt.Sprintf("the renewal window closed on %s and the device still shows this certificate, %s", end.UTC().Format(time.RFC3339), daysLeft(leaf.NotAfter.Sub(now)))
		c.Fix = "read the device's last error on its page in the issuer's web UI; restart its agent to renew now"
		return c
	}
	c.Status, c.Detail = OK, fmt.Sprintf("the device renews between %s and %s", start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339))
	return c
}

func daysLeft(d time.Duration) string {
	if d < 48*time.Hour {
		return fmt.Sprintf("%.0f hours left", d.Hours())
	}
	return fmt.Sprintf("%.0f days left", d.Hours()/24)
}

// fingerprint is the SHA-256 of der as colon-separated hex, the way the
// issuer's /trust page, browsers and certutil show it.
func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}
