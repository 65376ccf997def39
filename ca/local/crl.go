package local

import (
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"math/big"
	"time"
)

// CRLValidity is how long a CRL stays current: its nextUpdate is its
// thisUpdate plus CRLValidity.
const CRLValidity = 24 * time.Hour

// CRL returns a DER CRL of revoked, signed by the intermediate, with
// thisUpdate now and nextUpdate now+CRLValidity. Its CRL number is now in
// Unix milliseconds, raised if needed so that it always increases within
// one process and, as long as the clock does not go back, across restarts.
// A reason code of 0 (unspecified) is left out of its entry, as RFC 5280
// section 5.3.1 asks; codes that RFC 5280 does not define are an error.
func (c *CA) CRL(now time.Time, revoked []x509.RevocationListEntry) ([]byte, error) {
	entries := make([]x509.RevocationListEntry, len(revoked))
	for i, e := range revoked {
		if e.SerialNumber == nil || e.SerialNumber.Sign() <= 0 {
			return nil, fmt.Errorf("crl: entry %d has serial %v, want a positive number", i, e.SerialNumber)
		}
		if e.RevocationTime.IsZero() {
			return nil, fmt.Errorf("crl: serial %x has no revocation time", e.SerialNumber)
		}
		if !validReason(e.ReasonCode) {
			return nil, fmt.Errorf("crl: serial %x has reason code %d, which RFC 5280 does not define", e.SerialNumber, e.ReasonCode)
		}
		entries[i] = x509.RevocationListEntry{
			SerialNumber:   e.SerialNumber,
			RevocationTime: e.RevocationTime.UTC(),
			ReasonCode:     e.ReasonCode, // crypto/x509 omits the extension for 0
		}
	}
	tmpl := &x509.RevocationList{
		Number:                    big.NewInt(c.nextCRLNumber(now)),
		ThisUpdate:                now.UTC(),
		NextUpdate:                now.Add(CRLValidity).UTC(),
		RevokedCertificateEntries: entries,
	}
	s := c.current()
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, s.inter, s.key)
	if err != nil {
		return nil, fmt.Errorf("crl: %w", err)
	}
	return der, nil
}

// nextCRLNumber returns now in Unix milliseconds, or one more than the last
// number returned if that is not larger.
func (c *CA) nextCRLNumber(now time.Time) int64 {
	n := now.UnixMilli()
	for {
		last := c.crlNumber.Load()
		next := max(n, last+1)
		if c.crlNumber.CompareAndSwap(last, next) {
			return next
		}
	}
}

// validReason reports whether code is a CRLReason of RFC 5280 section
// 5.3.1: 0 to 10 except 7, which is unused.
func validReason(code int) bool {
	return code >= 0 && code <= 10 && code != 7
}
