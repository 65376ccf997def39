package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"slices"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/issuer"
	"github.com/lantls/lantls/issuer/issuertest"
)

func TestRegisterAndObtain(t *testing.T) {
	ctx := context.Background()
	iss, roots := issuertest.Start(t, issuer.Config{})
	info := iss.Info()
	creds, err := devices.Add(ctx, iss.Store(), info.Zone, "owner", "TV", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	hmac, _ := base64.RawURLEncoding.DecodeString(creds.HMACKey)
	eab := &acme.ExternalAccountBinding{KID: creds.KID, Key: hmac}
	httpc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

	client, err := Register(ctx, info.Directory, key, eab, httpc)
	if err != nil {
		t.Fatal(err)
	}
	// Registering again with the same key finds the account: an agent that
	// restarts before saving its state must not fail.
	if _, err := Register(ctx, info.Directory, key, eab, httpc); err != nil {
		t.Fatalf("second Register with the same key: %v", err)
	}

	cert, err := Obtain(ctx, client, creds.Names)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cert.Leaf.DNSNames, creds.Names) {
		t.Errorf("certificate names = %v, want %v", cert.Leaf.DNSNames, creds.Names)
	}
	if cert.PrivateKey.(*ecdsa.PrivateKey).PublicKey.Equal(&key.PublicKey) {
		t.Error("the certificate uses the account key; it must have its own")
	}
	inters := x509.NewCertPool()
	for _, der := range cert.Certificate[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		inters.AddCert(c)
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{DNSName: "192-168-1-20." + creds.Names[0], Roots: roots, Intermediates: inters}); err != nil {
		t.Errorf("chain does not verify for an address-name: %v", err)
	}

	// A name the device does not own is refused before any key is made.
	if _, err := Obtain(ctx, client, []string{"printer." + info.Zone}); err == nil {
		t.Error("Obtain for another device's name succeeded")
	}
}
