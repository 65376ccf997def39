package local

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"strings"
)

// Description is what a root lets its key vouch for, taken from the
// certificate itself, for people deciding whether to trust it.
type Description struct {
	// Subject is the certificate's subject common name.
	Subject string
	// Fingerprint is the SHA-256 of the certificate's DER, as uppercase
	// hex pairs joined by colons (how browsers and certutil show it).
	Fingerprint string
	// Constrained reports whether the certificate carries a critical name
	// constraints extension (RFC 5280 section 4.2.1.10).
	Constrained bool
	// Permitted and Excluded are the constraint's subtrees, each as
	// "DNS:name" (the name and every name below it; a leading dot: only
	// below), "IP:address/prefix", "email:..." or "URI:...", in the
	// certificate's order.
	Permitted, Excluded []string
}

var oidNameConstraintsExt = asn1.ObjectIdentifier{2, 5, 29, 30}

// Describe returns what cert's name constraints permit and exclude.
func Describe(cert *x509.Certificate) Description {
	sum := sha256.Sum256(cert.Raw)
	d := Description{Subject: cert.Subject.CommonName, Fingerprint: Fingerprint(sum[:])}
	for _, e := range cert.Extensions {
		if e.Id.Equal(oidNameConstraintsExt) && e.Critical {
			d.Constrained = true
		}
	}
	d.Permitted = subtrees(cert.PermittedDNSDomains, cert.PermittedIPRanges, cert.PermittedEmailAddresses, cert.PermittedURIDomains)
	d.Excluded = subtrees(cert.ExcludedDNSDomains, cert.ExcludedIPRanges, cert.ExcludedEmailAddresses, cert.ExcludedURIDomains)
	return d
}

func subtrees[IP fmt.Stringer](dns []string, ips []IP, emails, uris []string) []string {
	var out []string
	for _, d := range dns {
		out = append(out, "DNS:"+d)
	}
	for _, n := range ips {
		out = append(out, "IP:"+n.String())
	}
	for _, e := range emails {
		out = append(out, "email:"+e)
	}
	for _, u := range uris {
		out = append(out, "URI:"+u)
	}
	return out
}

// Fingerprint formats a digest as uppercase hex pairs joined by colons.
func Fingerprint(sum []byte) string {
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// String is the description as lines of text: the subject, the
// fingerprint and the constraints, or a warning that there are none.
func (d Description) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "root         %s\nSHA-256      %s\n", d.Subject, d.Fingerprint)
	if !d.Constrained {
		b.WriteString("permits      ANY NAME: the certificate has no critical name constraints\n")
		return b.String()
	}
	fmt.Fprintf(&b, "permits      %s\n", orNone(d.Permitted))
	fmt.Fprintf(&b, "excludes     %s\n", orNone(d.Excluded))
	return b.String()
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "(none)"
	}
	return strings.Join(s, ", ")
}
