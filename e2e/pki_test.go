package e2e

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lantls/lantls/internal/testwait"
)

// verifyDeviceChain checks that chain (leaf first, as a client received it)
// carries exactly the device's names and verifies against the issuer's root
// for the names below the device and for nothing else.
func verifyDeviceChain(t *testing.T, iss *issuer, d *device, chain []*x509.Certificate) {
	t.Helper()
	leaf := chain[0]
	if got, want := slices.Sorted(slices.Values(leaf.DNSNames)), slices.Sorted(slices.Values(d.Names)); !slices.Equal(got, want) {
		t.Errorf("leaf names %q, want %q", leaf.DNSNames, d.Names)
	}
	// RFC 5280 sections 4.2.1.13 and 4.2.2.1: http:// (Chromium and
	// Windows fetch nothing else).
	for _, u := range append(slices.Clone(leaf.CRLDistributionPoints), leaf.IssuingCertificateURL...) {
		if !strings.HasPrefix(u, "http://") {
			t.Errorf("leaf names %q for its CRL or issuer; want an http:// URL", u)
		}
	}
	if len(leaf.CRLDistributionPoints) != 1 || len(leaf.IssuingCertificateURL) != 1 {
		t.Errorf("leaf has CRL distribution points %q and caIssuers %q, want one of each", leaf.CRLDistributionPoints, leaf.IssuingCertificateURL)
	}
	if len(leaf.IPAddresses)+len(leaf.EmailAddresses)+len(leaf.URIs) != 0 {
		t.Errorf("leaf has SANs besides DNS names: %v %v %v", leaf.IPAddresses, leaf.EmailAddresses, leaf.URIs)
	}
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life <= 0 || life > maxLifetime {
		t.Errorf("leaf lifetime %s, want at most %s", life, maxLifetime)
	}
	if len(chain) < 2 {
		t.Fatalf("chain has only the leaf: clients need the intermediate")
	}
	// The intermediate repeats the root's constraints: the zone first,
	// then the issuer's own names outside it.
	if inter := chain[1]; !inter.PermittedDNSDomainsCritical || len(inter.PermittedDNSDomains) == 0 || inter.PermittedDNSDomains[0] != iss.Zone {
		t.Errorf("intermediate %q permits DNS names %q (critical %v), want %s first, critical",
			inter.Subject, inter.PermittedDNSDomains, inter.PermittedDNSDomainsCritical, iss.Zone)
	}
	other := strings.Repeat("a", 26) + "." + iss.Zone
	if other == d.Names[0] {
		other = strings.Repeat("b", 26) + "." + iss.Zone
	}
	base := d.Names[0]
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{base, true},
		{"192-168-1-20." + base, true},
		{"fd00-0-0-0-0-0-0-1." + base, true},
		{"example.com", false},
		{"a.192-168-1-20." + base, false}, // a wildcard covers one label
		{other, false},
		{iss.Zone, false},
	} {
		err := verifyName(iss, chain, tc.name)
		if tc.ok && err != nil {
			t.Errorf("chain does not verify for %s: %v", tc.name, err)
		}
		if !tc.ok && err == nil {
			t.Errorf("chain verifies for %s, which the device does not own", tc.name)
		}
	}
}

// maxLifetime is the longest certificate lifetime the issuer may give.
const maxLifetime = 200 * 24 * time.Hour

func verifyName(iss *issuer, chain []*x509.Certificate, name string) error {
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		DNSName:       name,
		Roots:         iss.roots,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return err
}

// requireNewSerial fails unless next is a different certificate than prev.
func requireNewSerial(t *testing.T, prev, next *x509.Certificate) {
	t.Helper()
	if prev.SerialNumber.Cmp(next.SerialNumber) == 0 {
		t.Fatalf("renewal returned the same certificate (serial %x)", prev.SerialNumber)
	}
}

// crlPollTimeout bounds how long a revocation may take to reach the CRL.
const crlPollTimeout = 10 * time.Second

// fetchCRL gets the CRL over plain HTTP, where the leaves point, and checks
// its signature by issuerCert.
func (iss *issuer) fetchCRL(t *testing.T, issuerCert *x509.Certificate) *x509.RevocationList {
	t.Helper()
	u := iss.CRL
	resp, body := iss.get(t, u)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: the issuer serves no CRL there\n%s", u, resp.Status, body)
	}
	crl, err := x509.ParseRevocationList(body)
	if err != nil {
		t.Fatalf("GET %s: not a DER CRL (Content-Type %q): %v", u, resp.Header.Get("Content-Type"), err)
	}
	if err := crl.CheckSignatureFrom(issuerCert); err != nil {
		t.Errorf("CRL at %s is not signed by %s: %v", u, issuerCert.Subject, err)
	}
	return crl
}

// RFC 5280 reason codes the tests use; anyReason tells requireRevoked not
// to check the reason.
const (
	anyReason                  = -1
	reasonUnspecified          = 0
	reasonKeyCompromise        = 1
	reasonSuperseded           = 4
	reasonCessationOfOperation = 5
)

// requireRevoked waits until the issuer's CRL lists chain[0] and checks its
// reason code (0 unspecified, 4 superseded, ...; see RFC 5280 5.3.1).
func requireRevoked(t *testing.T, iss *issuer, chain []*x509.Certificate, reason int) {
	t.Helper()
	leaf := chain[0]
	if len(chain) < 2 {
		t.Fatalf("chain of %x has no issuer certificate to check the CRL with", leaf.SerialNumber)
	}
	// A leaf issued before a restart names the plain HTTP port of its time.
	if len(leaf.CRLDistributionPoints) != 1 || !strings.HasPrefix(leaf.CRLDistributionPoints[0], "http://127.0.0.1:") ||
		!strings.HasSuffix(leaf.CRLDistributionPoints[0], "/ca/crl") {
		t.Errorf("leaf CRL distribution points %q, want one like %s", leaf.CRLDistributionPoints, iss.CRL)
	}
	var crl *x509.RevocationList
	if !testwait.Until(crlPollTimeout, func() bool {
		crl = iss.fetchCRL(t, chain[1])
		return crlEntry(crl, leaf.SerialNumber) != nil
	}) {
		t.Fatalf("CRL (thisUpdate %s) does not list revoked serial %x after %s; it lists %s",
			crl.ThisUpdate.Format(time.RFC3339), leaf.SerialNumber, crlPollTimeout, crlSerials(crl))
	}
	if e := crlEntry(crl, leaf.SerialNumber); reason != anyReason && e.ReasonCode != reason {
		t.Errorf("CRL lists %x with reason %d, want %d", leaf.SerialNumber, e.ReasonCode, reason)
	}
}

// requireNotRevoked fails if the issuer's CRL lists chain[0].
func requireNotRevoked(t *testing.T, iss *issuer, chain []*x509.Certificate) {
	t.Helper()
	if e := crlEntry(iss.fetchCRL(t, chain[1]), chain[0].SerialNumber); e != nil {
		t.Errorf("CRL lists %x, which nobody revoked (reason %d)", chain[0].SerialNumber, e.ReasonCode)
	}
}

func crlEntry(crl *x509.RevocationList, serial *big.Int) *x509.RevocationListEntry {
	for i, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber.Cmp(serial) == 0 {
			return &crl.RevokedCertificateEntries[i]
		}
	}
	return nil
}

func crlSerials(crl *x509.RevocationList) string {
	if len(crl.RevokedCertificateEntries) == 0 {
		return "nothing"
	}
	var s []string
	for _, e := range crl.RevokedCertificateEntries {
		s = append(s, fmt.Sprintf("%x", e.SerialNumber))
	}
	return strings.Join(s, ", ")
}

// renewalWindow is an ARI suggested window (RFC 9773).
type renewalWindow struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// fetchRenewalInfo gets the ARI response for leaf from the directory's
// renewalInfo URL.
func (iss *issuer) fetchRenewalInfo(t *testing.T, leaf *x509.Certificate) renewalWindow {
	t.Helper()
	base, _ := iss.directoryDoc(t)["renewalInfo"].(string)
	if base == "" {
		t.Fatal("directory has no renewalInfo URL (ARI)")
	}
	u := strings.TrimSuffix(base, "/") + "/" + ariCertID(t, leaf)
	resp, body := iss.get(t, u)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", u, resp.Status, body)
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Errorf("ARI response has no Retry-After header (RFC 9773 section 4.3)")
	}
	var info struct {
		SuggestedWindow renewalWindow `json:"suggestedWindow"`
	}
	if err := json.Unmarshal(body, &info); err != nil {
		t.Fatalf("ARI response: %v\n%s", err, body)
	}
	w := info.SuggestedWindow
	if w.Start.IsZero() || !w.End.After(w.Start) {
		t.Fatalf("ARI window %s .. %s is empty\n%s", w.Start, w.End, body)
	}
	return w
}

// ariCertID is the RFC 9773 certificate identifier: base64url of the
// authority key identifier, a dot, base64url of the serial's DER content.
func ariCertID(t *testing.T, leaf *x509.Certificate) string {
	t.Helper()
	if len(leaf.AuthorityKeyId) == 0 {
		t.Fatal("leaf has no authority key identifier, so no ARI certificate ID")
	}
	serial := leaf.SerialNumber.Bytes()
	if len(serial) == 0 || serial[0]&0x80 != 0 {
		serial = append([]byte{0}, serial...)
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(leaf.AuthorityKeyId) + "." + enc.EncodeToString(serial)
}
