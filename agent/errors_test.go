package agent

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"testing"
)

// TestUntrusted: a certificate the roots do not vouch for, or for another
// host, is ErrUntrustedIssuer; one not valid yet (a device that booted in
// 1970, before NTP) is retried like a network failure.
func TestUntrusted(t *testing.T) {
	wrap := func(err error) error {
		return &url.Error{Op: "Post", URL: "https://hub", Err: &tls.CertificateVerificationError{Err: err}}
	}
	for _, tc := range []struct {
		err       error
		untrusted bool
	}{
		{wrap(x509.UnknownAuthorityError{}), true},
		{wrap(x509.HostnameError{Certificate: &x509.Certificate{}, Host: "hub"}), true},
		{wrap(x509.CertificateInvalidError{Reason: x509.Expired}), false},
		{wrap(x509.CertificateInvalidError{Reason: x509.NotAuthorizedToSign}), true},
		{fmt.Errorf("dial: %w", errors.New("connection refused")), false},
	} {
		got := untrusted(tc.err)
		if errors.Is(got, ErrUntrustedIssuer) != tc.untrusted {
			t.Errorf("untrusted(%v) = %v, want ErrUntrustedIssuer %v", tc.err, got, tc.untrusted)
		}
		if permanent(got) != tc.untrusted {
			t.Errorf("permanent(%v) = %v, want %v", got, !tc.untrusted, tc.untrusted)
		}
	}
	for code, want := range map[int]bool{400: true, 403: true, 404: true, 408: false, 425: false, 429: false, 500: false, 503: false} {
		if got := permanent(&statusError{code: code}); got != want {
			t.Errorf("permanent(HTTP %d) = %v, want %v", code, got, want)
		}
	}
}
