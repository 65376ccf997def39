package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/acme"
)

// newACMEClient returns an x/crypto/acme client with a fresh P-256 account
// key that trusts only the issuer's root.
func newACMEClient(t *testing.T, iss *issuer) *acme.Client {
	t.Helper()
	return &acme.Client{
		Key:          newKey(t),
		DirectoryURL: iss.Directory,
		HTTPClient:   iss.client,
		UserAgent:    "lantls-e2e",
	}
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// acmeContext bounds one test's ACME exchanges.
func acmeContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), commandTimeout)
	t.Cleanup(cancel)
	return ctx
}

// eab is the device's external account binding.
func eab(t *testing.T, d *device) *acme.ExternalAccountBinding {
	t.Helper()
	return &acme.ExternalAccountBinding{KID: d.EABKID, Key: d.hmacKey(t)}
}

// registerDevice registers a new account bound to the device's EAB key.
func registerDevice(t *testing.T, ctx context.Context, iss *issuer, d *device) *acme.Client {
	t.Helper()
	cl := newACMEClient(t, iss)
	acct, err := cl.Register(ctx, &acme.Account{ExternalAccountBinding: eab(t, d)}, acme.AcceptTOS)
	if err != nil {
		t.Fatalf("newAccount with EAB for %s: %v", d.Label, err)
	}
	if acct.Status != acme.StatusValid {
		t.Errorf("new account status %q, want valid", acct.Status)
	}
	return cl
}

// issued is a certificate chain and the key of its leaf.
type issued struct {
	chain []*x509.Certificate
	key   *ecdsa.PrivateKey
}

// order places an order for names and checks that it is ready at once,
// with every authorization valid: the issuer poses no challenge for names
// the device owns.
func order(t *testing.T, ctx context.Context, cl *acme.Client, names ...string) *acme.Order {
	t.Helper()
	o, err := cl.AuthorizeOrder(ctx, acme.DomainIDs(names...))
	if err != nil {
		t.Fatalf("newOrder %q: %v", names, err)
	}
	for _, u := range o.AuthzURLs {
		z, err := cl.GetAuthorization(ctx, u)
		if err != nil {
			t.Fatalf("authorization %s: %v", u, err)
		}
		if z.Status != acme.StatusValid {
			t.Errorf("authorization for %s is %q, want valid", z.Identifier.Value, z.Status)
		}
	}
	if o.Status != acme.StatusReady {
		t.Errorf("new order for %q is %q, want ready", names, o.Status)
	}
	return o
}

// issue orders names and finalizes the order with a CSR for a new key.
func issue(t *testing.T, ctx context.Context, cl *acme.Client, names ...string) issued {
	t.Helper()
	o := order(t, ctx, cl, names...)
	key := newKey(t)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: names}, key)
	if err != nil {
		t.Fatal(err)
	}
	ders, _, err := cl.CreateCertFromOrder(ctx, o, csr, true)
	if err != nil {
		t.Fatalf("finalize %s: %v", o.URI, err)
	}
	var chain []*x509.Certificate
	for _, der := range ders {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatalf("parsing issued certificate: %v", err)
		}
		chain = append(chain, c)
	}
	if !chain[0].PublicKey.(*ecdsa.PublicKey).Equal(key.Public()) {
		t.Fatal("issued certificate is not for the CSR's key")
	}
	return issued{chain: chain, key: key}
}

// problemType is the ACME error type of err without its URN prefix.
func problemType(err error) string {
	var e *acme.Error
	if errors.As(err, &e) {
		return strings.TrimPrefix(e.ProblemType, "urn:ietf:params:acme:error:")
	}
	return ""
}

func requireProblem(t *testing.T, err error, want, what string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s succeeded, want %s", what, want)
	}
	if got := problemType(err); got != want {
		t.Errorf("%s: got %v (type %q), want type %s", what, err, got, want)
	}
}

func TestXCryptoACME(t *testing.T) {
	t.Parallel()
	iss := startIssuer(t)
	devs := addDevices(t, iss, 2)
	dev, stranger := devs[0], devs[1]
	ctx := acmeContext(t)
	cl := registerDevice(t, ctx, iss, dev)

	first := issue(t, ctx, cl, dev.Names...)
	verifyDeviceChain(t, iss, dev, first.chain)

	w := iss.fetchRenewalInfo(t, first.chain[0])
	if now := time.Now(); !w.Start.After(now) || w.End.After(first.chain[0].NotAfter) {
		t.Errorf("ARI window %s .. %s of a fresh certificate (valid until %s) should start later and end before expiry",
			w.Start, w.End, first.chain[0].NotAfter)
	}

	second := issue(t, ctx, cl, dev.Names...)
	requireNewSerial(t, first.chain[0], second.chain[0])
	verifyDeviceChain(t, iss, dev, second.chain)

	t.Run("another account may not revoke", func(t *testing.T) {
		other := registerDevice(t, ctx, iss, stranger)
		err := other.RevokeCert(ctx, nil, first.chain[0].Raw, acme.CRLReasonSuperseded)
		requireProblem(t, err, "unauthorized", "revokeCert of another device's certificate")
	})

	t.Run("revoke with account key", func(t *testing.T) {
		if err := cl.RevokeCert(ctx, nil, first.chain[0].Raw, acme.CRLReasonSuperseded); err != nil {
			t.Fatalf("revokeCert: %v", err)
		}
		requireRevoked(t, iss, first.chain, reasonSuperseded)
		requireNotRevoked(t, iss, second.chain)
	})

	t.Run("revoke with certificate key", func(t *testing.T) {
		keyOnly := &acme.Client{DirectoryURL: iss.Directory, HTTPClient: iss.client}
		if err := keyOnly.RevokeCert(ctx, second.key, second.chain[0].Raw, acme.CRLReasonKeyCompromise); err != nil {
			t.Fatalf("revokeCert signed by the certificate key: %v", err)
		}
		requireRevoked(t, iss, second.chain, reasonKeyCompromise)
	})

	t.Run("ARI of a revoked certificate", func(t *testing.T) {
		w := iss.fetchRenewalInfo(t, first.chain[0])
		if now := time.Now(); w.Start.After(now) {
			t.Errorf("ARI window of a revoked certificate starts %s, after now (%s): should renew at once", w.Start, now)
		}
	})
}

func TestXCryptoACMEAccounts(t *testing.T) {
	t.Parallel()
	iss := startIssuer(t)
	devs := addDevices(t, iss, 2)
	ctx := acmeContext(t)

	dir, err := newACMEClient(t, iss).Discover(ctx)
	if err != nil {
		t.Fatalf("directory: %v", err)
	}
	if !dir.ExternalAccountRequired {
		t.Error("directory meta.externalAccountRequired is false")
	}

	t.Run("without EAB", func(t *testing.T) {
		_, err := newACMEClient(t, iss).Register(ctx, &acme.Account{}, acme.AcceptTOS)
		requireProblem(t, err, "externalAccountRequired", "newAccount without EAB")
	})
	t.Run("wrong HMAC key", func(t *testing.T) {
		bad := &acme.ExternalAccountBinding{KID: devs[0].EABKID, Key: make([]byte, 32)}
		_, err := newACMEClient(t, iss).Register(ctx, &acme.Account{ExternalAccountBinding: bad}, acme.AcceptTOS)
		if err == nil {
			t.Fatal("newAccount with a wrong EAB MAC succeeded")
		}
		t.Logf("rejected as wanted: %v", err)
	})
	t.Run("unknown kid", func(t *testing.T) {
		bad := &acme.ExternalAccountBinding{KID: "no-such-kid", Key: devs[0].hmacKey(t)}
		_, err := newACMEClient(t, iss).Register(ctx, &acme.Account{ExternalAccountBinding: bad}, acme.AcceptTOS)
		if err == nil {
			t.Fatal("newAccount with an unknown EAB kid succeeded")
		}
		t.Logf("rejected as wanted: %v", err)
	})

	cl := registerDevice(t, ctx, iss, devs[0])

	t.Run("same key again returns the account", func(t *testing.T) {
		again := &acme.Client{Key: cl.Key, DirectoryURL: iss.Directory, HTTPClient: iss.client}
		if _, err := again.GetReg(ctx, ""); err != nil {
			t.Errorf("looking up the existing account by key: %v", err)
		}
	})
	t.Run("EAB key used twice", func(t *testing.T) {
		_, err := newACMEClient(t, iss).Register(ctx, &acme.Account{ExternalAccountBinding: eab(t, devs[0])}, acme.AcceptTOS)
		if err == nil {
			t.Fatal("a second account key registered with an EAB key already bound to another account")
		}
		t.Logf("rejected as wanted: %v", err)
	})

	t.Run("names", func(t *testing.T) {
		base := devs[0].Names[0]
		rejected := []string{"rejectedIdentifier"}
		for _, tc := range []struct {
			name   string
			ids    []acme.AuthzID
			reject []string // acceptable problem types; none: the order is ready
		}{
			{"device name", acme.DomainIDs(base), nil},
			{"wildcard", acme.DomainIDs("*." + base), nil},
			{"both", acme.DomainIDs(base, "*."+base), nil},
			{"address-name", acme.DomainIDs("192-168-1-20." + base), nil},
			{"upper case", acme.DomainIDs(strings.ToUpper(base)), nil},
			{"another device", acme.DomainIDs(devs[1].Names[0]), rejected},
			{"mixed with another device", acme.DomainIDs(base, devs[1].Names[0]), rejected},
			{"zone apex", acme.DomainIDs(zone), rejected},
			{"zone wildcard", acme.DomainIDs("*." + zone), rejected},
			{"outside the zone", acme.DomainIDs("www.example.com"), rejected},
			{"device name under another domain", acme.DomainIDs(base + ".example.com"), rejected},
			{"label as a suffix only", acme.DomainIDs("x" + base), rejected},
			{"IP address", acme.IPIDs("192.168.1.20"), []string{"rejectedIdentifier", "unsupportedIdentifier"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				o, err := cl.AuthorizeOrder(ctx, tc.ids)
				switch {
				case len(tc.reject) == 0 && err != nil:
					t.Fatalf("newOrder %v: %v", tc.ids, err)
				case len(tc.reject) == 0 && o.Status != acme.StatusReady:
					t.Errorf("newOrder %v is %q, want ready", tc.ids, o.Status)
				case len(tc.reject) != 0 && err == nil:
					t.Fatalf("newOrder %v succeeded (%s), want %s", tc.ids, o.Status, strings.Join(tc.reject, " or "))
				case len(tc.reject) != 0 && !slices.Contains(tc.reject, problemType(err)):
					t.Errorf("newOrder %v: %v (type %q), want %s", tc.ids, err, problemType(err), strings.Join(tc.reject, " or "))
				}
			})
		}
	})
}
