package local

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/lantls/lantls/ca"
	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/problem"
)

var _ ca.Signer = (*CA)(nil)

// Sign issues a leaf for req.Names with the key of req.CSR, signed by the
// intermediate. The certificate has an empty subject and the names in a
// critical subjectAltName, serverAuth as its only EKU, a 128-bit random
// serial, and is valid from one minute before now for req.Profile.Lifetime,
// cut short where the intermediate expires. Client-caused failures are
// *problem.Error values (badCSR, rejectedIdentifier).
func (c *CA) Sign(ctx context.Context, req ca.Request) (*ca.Issued, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	if req.CSR == nil {
		return nil, fmt.Errorf("sign: %w", problem.BadCSRErr("no CSR"))
	}
	dnsNames, err := c.checkNames(req.Names)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	for _, n := range req.Extra {
		if c.AddsName(n) && !slices.Contains(dnsNames, n) {
			dnsNames = append(dnsNames, n)
		}
	}
	keyUsage, err := c.checkKey(req.CSR.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	lifetime := req.Profile.Lifetime
	if lifetime <= 0 || lifetime > ca.MaxLifetime {
		return nil, fmt.Errorf("sign: profile %q has lifetime %v, want more than 0 and at most %v",
			req.Profile.Name, lifetime, ca.MaxLifetime)
	}
	// Whole seconds in UTC, as the certificate holds them, so that Issued
	// tells the certificate's own times.
	cur := c.current()
	notBefore := c.now().Add(-Backdate).UTC().Truncate(time.Second)
	notAfter := notBefore.Add(lifetime).Truncate(time.Second)
	if notAfter.After(cur.inter.NotAfter) {
		notAfter = cur.inter.NotAfter
	}
	if !notAfter.After(notBefore) {
		return nil, fmt.Errorf("sign: intermediate %q expired at %v", cur.inter.Subject.CommonName, cur.inter.NotAfter)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	spki, err := csrSPKI(req.CSR)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	ski, err := keyID(spki)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	der, err := c.signLeaf(cur, &leaf{
		serial:    serial,
		notBefore: notBefore,
		notAfter:  notAfter,
		dnsNames:  dnsNames,
		keyUsage:  keyUsage,
		pub:       req.CSR.PublicKey,
		spki:      spki,
		ski:       ski,
	})
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	chain := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	chain = append(chain, cur.pem...)
	return &ca.Issued{Serial: serial, NotBefore: notBefore, NotAfter: notAfter, DER: der, ChainPEM: chain}, nil
}

// checkNames returns the names without duplicates, or a problem if any is
// not a normalized DNS name inside the zone.
func (c *CA) checkNames(in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, problem.BadCSRErr("no names to certify")
	}
	out := make([]string, 0, len(in))
	for _, n := range in {
		norm, err := names.Normalize(n)
		if err != nil || norm != n {
			return nil, problem.RejectedIdentifierErr("%q is not a normalized DNS name", n)
		}
		if !names.InZone(n, c.zone) {
			return nil, problem.RejectedIdentifierErr("%q is outside zone %q", n, c.zone)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// checkKey applies the key policy (a badCSR problem if the key is not
// acceptable) and returns the key usage a TLS server key of that type
// needs.
func (c *CA) checkKey(pub crypto.PublicKey) (x509.KeyUsage, error) {
	if err := c.keys.CertificateKey(pub); err != nil {
		return 0, err
	}
	if _, ok := pub.(*rsa.PublicKey); ok {
		// RSA key exchange (TLS 1.2 without forward secrecy) encrypts
		// with the certificate's key.
		return x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, nil
	}
	return x509.KeyUsageDigitalSignature, nil
}

// ServerCertificate issues the issuer's own HTTPS certificate, with a new
// P-256 key, for hosts: DNS names (a single label such as "localhost" is
// allowed) and IP literals, each of which the CA's name constraints must
// permit (see Permits). With no hosts it names localhost, 127.0.0.1 and
// ::1. The intermediate signs it, and the chain includes it; only a legacy
// CA's root signs it, as that intermediate permits the zone alone. It is
// valid for 90 days, never past its signer.
func (c *CA) ServerCertificate(hosts []string) (*tls.Certificate, error) {
	if len(hosts) == 0 {
		hosts = []string{"localhost", "127.0.0.1", "::1"}
	}
	var dnsNames []string
	var ips []net.IP
	for _, h := range hosts {
		if addr, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
			if addr.Zone() != "" {
				return nil, fmt.Errorf("server certificate: address %q has a zone", h)
			}
			ip := net.IP(addr.Unmap().AsSlice())
			if c.rootKey == nil && !c.Permits(h) {
				return nil, fmt.Errorf("server certificate: the CA's name constraints do not permit %s", h)
			}
			if !slices.ContainsFunc(ips, ip.Equal) {
				ips = append(ips, ip)
			}
			continue
		}
		n, err := hostName(h)
		if err != nil {
			return nil, fmt.Errorf("server certificate: %w", err)
		}
		if c.rootKey == nil && !c.Permits(n) {
			return nil, fmt.Errorf("server certificate: the CA's name constraints do not permit %q", h)
		}
		if !slices.Contains(dnsNames, n) {
			dnsNames = append(dnsNames, n)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("server certificate: generate key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	ski, err := subjectKeyID(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	notBefore := c.now().Add(-Backdate)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(ServerCertLifetime),
		DNSNames:              dnsNames,
		IPAddresses:           ips,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		SubjectKeyId:          ski,
	}
	if c.rootKey != nil {
		leaf, err := createCertificate(tmpl, c.root, &key.PublicKey, c.rootKey)
		if err != nil {
			return nil, fmt.Errorf("server certificate: %w", err)
		}
		return &tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}, nil
	}
	cur := c.current()
	if tmpl.NotAfter.After(cur.inter.NotAfter) {
		tmpl.NotAfter = cur.inter.NotAfter
	}
	leaf, err := createCertificate(tmpl, cur.inter, &key.PublicKey, cur.key)
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	return &tls.Certificate{Certificate: [][]byte{leaf.Raw, cur.inter.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

// hostName normalizes a DNS name for the issuer's own certificate. Unlike
// device names it may be a single label, such as "localhost".
func hostName(h string) (string, error) {
	n, err := names.Normalize(h)
	if err == nil {
		return n, nil
	}
	single := strings.TrimSuffix(h, ".")
	if single == "" || single == "*" || strings.Contains(single, ".") {
		return "", err
	}
	// Check the label as the first of a two-label name.
	n, err2 := names.Normalize(single + ".invalid")
	if err2 != nil {
		return "", err
	}
	return strings.TrimSuffix(n, ".invalid"), nil
}
