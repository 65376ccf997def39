package agent

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
)

// The errors Run, New and Wipe return for the cases a device must handle
// differently; match them with errors.Is.
var (
	// ErrDenied: the owner denied the device (RFC 8628 access_denied).
	ErrDenied = errors.New("agent: the owner denied this device (access_denied); run the agent again to show a new code")
	// ErrUnpaired: the owner unpaired the device, or the issuer no longer
	// knows it. The agent stopped serving its certificate and wiped its
	// state (a revoked token and a deactivated account cannot be used
	// again), so the next Run pairs afresh with a new code.
	ErrUnpaired = errors.New("agent: the owner unpaired this device; its state was wiped and the next run pairs again")
	// ErrCorruptState: a file of the agent's state that cannot be rebuilt
	// (the account key or the pairing credentials) does not parse. Wipe
	// clears it; the device then pairs again.
	ErrCorruptState = errors.New("agent: the agent's state is damaged")
	// ErrLocked: another agent runs on the same storage.
	ErrLocked = errors.New("agent: another agent is running on this state")
	// ErrUntrustedIssuer: the issuer's certificate does not verify against
	// Config.Roots (or the system's roots when it is nil), or names another
	// host. Give the agent the issuer's root (its /ca/root.pem).
	ErrUntrustedIssuer = errors.New("agent: the issuer's certificate is not trusted")
)

// corrupt wraps ErrCorruptState for the storage key that did not parse.
func corrupt(key string, err error) error {
	return fmt.Errorf("%w: %s: %v", ErrCorruptState, key, err)
}

// untrusted turns a failed verification of the issuer's certificate into
// ErrUntrustedIssuer, and leaves every other error alone. A certificate
// that is not valid yet or has expired is not: a device without a
// real-time clock boots in 1970 and trusts its issuer once NTP has run.
func untrusted(err error) error {
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	switch {
	case errors.As(err, &ci) && ci.Reason == x509.Expired:
		return err
	case errors.As(err, &ua), errors.As(err, &he), errors.As(err, &ci):
		return fmt.Errorf("%w (%v): give the agent the issuer's root CA (Config.Roots; the issuer serves it at /ca/root.pem)", ErrUntrustedIssuer, err)
	}
	var cv *tls.CertificateVerificationError
	if errors.As(err, &cv) {
		return fmt.Errorf("%w (%v)", ErrUntrustedIssuer, err)
	}
	return err
}

// permanent reports whether err will not go away by trying again: the
// owner's answer, an untrusted issuer, or an issuer that does not speak
// the pairing protocol at the URL given.
func permanent(err error) bool {
	var se *statusError
	if errors.As(err, &se) {
		// 408, 425 and 429 ask to come back later, and so do 5xx.
		switch se.code {
		case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
			return false
		}
		return se.code/100 == 4
	}
	return errors.Is(err, ErrDenied) || errors.Is(err, ErrUntrustedIssuer) || errors.Is(err, ErrCorruptState) ||
		errors.Is(err, errNotIssuer) || errors.Is(err, errBadAnswer)
}
