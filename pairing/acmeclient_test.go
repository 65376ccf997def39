package pairing_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"

	"golang.org/x/crypto/acme"
)

// The pairing tests register and order with golang.org/x/crypto/acme, a
// client independent of the agent's (acmez), so that the credentials a
// pairing hands out are shown to work with a second ACME client.

// register returns an ACME client for directory whose account key is key,
// registering the account with eab if the issuer does not know the key yet.
func register(ctx context.Context, directory string, key crypto.Signer, eab *acme.ExternalAccountBinding, httpc *http.Client) (*acme.Client, error) {
	c := &acme.Client{Key: key, DirectoryURL: directory, HTTPClient: httpc, UserAgent: "lantls-agent"}
	_, err := c.Register(ctx, &acme.Account{ExternalAccountBinding: eab}, acme.AcceptTOS)
	if err != nil && !errors.Is(err, acme.ErrAccountAlreadyExists) {
		return nil, fmt.Errorf("register account: %w", err)
	}
	return c, nil
}

// obtain orders a certificate for names, finalizes it with a fresh P-256
// key (never the account key) and returns the chain with that key.
func obtain(ctx context.Context, c *acme.Client, names []string) (*tls.Certificate, error) {
	order, err := c.AuthorizeOrder(ctx, acme.DomainIDs(names...))
	if err != nil {
		return nil, fmt.Errorf("new order: %w", err)
	}
	if order.Status != acme.StatusReady {
		// Authorizations are valid at once for names a paired device owns;
		// anything else needs a challenge this client does not solve.
		return nil, fmt.Errorf("new order: status %q, want %q (the issuer asks for a challenge this agent does not solve)", order.Status, acme.StatusReady)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate certificate key: %w", err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: names}, key)
	if err != nil {
		return nil, fmt.Errorf("create CSR: %w", err)
	}
	der, _, err := c.CreateCertFromOrder(ctx, order, csr, true)
	if err != nil {
		return nil, fmt.Errorf("finalize order: %w", err)
	}
	leaf, err := x509.ParseCertificate(der[0])
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	return &tls.Certificate{Certificate: der, PrivateKey: key, Leaf: leaf}, nil
}
