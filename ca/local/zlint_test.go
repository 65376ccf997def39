package local

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	zx509 "github.com/zmap/zcrypto/x509"
	"github.com/zmap/zlint/v3"
	"github.com/zmap/zlint/v3/lint"
)

// lintSources are the zlint sources that apply to a private CA: the RFCs
// and the community lints. The CA/Browser Forum, Mozilla, Apple, Chrome and
// ETSI lints are left out: they state what publicly trusted CAs must do
// (certificate policies, CT, public TLDs, country in CA subjects, ...).
var lintSources = lint.SourceList{
	lint.RFC3279, lint.RFC5280, lint.RFC5480, lint.RFC5891, lint.RFC6960,
	lint.RFC6962, lint.RFC8813, lint.Community,
}

func lintRegistry(t *testing.T, sources lint.SourceList) lint.Registry {
	t.Helper()
	reg, err := lint.GlobalRegistry().Filter(lint.FilterOptions{IncludeSources: sources})
	if err != nil {
		t.Fatalf("zlint registry: %v", err)
	}
	return reg
}

// lintSubjects returns the DER of every kind of certificate the CA makes:
// leaves for a P-256, a P-384 and an RSA-2048 key, the issuer's own
// certificate, the intermediate and the root.
func lintSubjects(t *testing.T, c *CA) map[string][]byte {
	t.Helper()
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsa2048, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{"root": c.Root().Raw, "intermediate": c.Intermediate().Raw}
	for name, key := range map[string]crypto.Signer{"leaf P-256": p256Key(t), "leaf P-384": p384, "leaf RSA-2048": rsa2048} {
		issued, err := c.Sign(t.Context(), leafRequest(t, key))
		if err != nil {
			t.Fatalf("Sign %s: %v", name, err)
		}
		out[name] = issued.DER
	}
	server, err := c.ServerCertificate([]string{"localhost", "hub.lan.test", "127.0.0.1", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	out["issuer server certificate"] = server.Leaf.Raw
	return out
}

func TestZlint(t *testing.T) {
	c, _ := openCA(t)
	// No lint of these sources is excluded: leaves name their CRL and
	// intermediate by http:// URLs, as RFC 5280 sections 4.2.1.13 and
	// 4.2.2.1 ask, served by the issuer's plain HTTP listener.
	reg := lintRegistry(t, lintSources)
	t.Logf("zlint registry: %d certificate lints and %d CRL lints from %v",
		len(reg.CertificateLints().Lints()), len(reg.RevocationListLints().Lints()), lintSources)

	subjects := lintSubjects(t, c)
	for _, name := range slices.Sorted(mapKeys(subjects)) {
		t.Run(name, func(t *testing.T) {
			zc, err := zx509.ParseCertificate(subjects[name])
			if err != nil {
				t.Fatalf("zcrypto parse: %v", err)
			}
			checkResults(t, zlint.LintCertificateEx(zc, reg), 40)
		})
	}
	t.Run("CRL", func(t *testing.T) {
		der, err := c.CRL(testNow, []x509.RevocationListEntry{
			{SerialNumber: big.NewInt(0x1001), RevocationTime: testNow.Add(-time.Hour), ReasonCode: 1},
			{SerialNumber: big.NewInt(0x1002), RevocationTime: testNow.Add(-time.Hour), ReasonCode: 0},
			{SerialNumber: big.NewInt(0x1003), RevocationTime: testNow.Add(-time.Hour), ReasonCode: 4},
		})
		if err != nil {
			t.Fatal(err)
		}
		crl, err := zx509.ParseRevocationList(der)
		if err != nil {
			t.Fatalf("zcrypto parse: %v", err)
		}
		checkResults(t, zlint.LintRevocationListEx(crl, reg), 10)
	})
}

// checkResults fails on every warning, error or fatal result, and when
// fewer than minApplied lints applied, so an empty registry cannot pass.
func checkResults(t *testing.T, rs *zlint.ResultSet, minApplied int) {
	t.Helper()
	var applied, notices []string
	for _, name := range slices.Sorted(mapKeys(rs.Results)) {
		r := rs.Results[name]
		switch r.Status {
		case lint.NA, lint.NE:
			continue
		case lint.Warn, lint.Error, lint.Fatal:
			t.Errorf("%s %s (%s, %s): %s", r.Status, name, r.LintMetadata.Source, r.LintMetadata.Citation, r.Details)
		case lint.Notice:
			notices = append(notices, name)
		}
		applied = append(applied, name)
	}
	t.Logf("%d lints ran, %d applied: %s", len(rs.Results), len(applied), strings.Join(applied, " "))
	if len(notices) > 0 {
		t.Logf("notices: %s", strings.Join(notices, " "))
	}
	if len(applied) < minApplied {
		t.Errorf("only %d lints applied, want at least %d", len(applied), minApplied)
	}
}

// TestZlintPublicTrust logs what the lints for publicly trusted CAs say,
// so a reader sees what this private CA leaves aside. It never fails.
func TestZlintPublicTrust(t *testing.T) {
	c, _ := openCA(t)
	reg := lintRegistry(t, lint.SourceList{
		lint.CABFBaselineRequirements, lint.MozillaRootStorePolicy, lint.AppleRootStorePolicy,
		lint.ChromeRootStorePolicy, lint.EtsiEsi,
	})
	subjects := lintSubjects(t, c)
	for _, name := range slices.Sorted(mapKeys(subjects)) {
		zc, err := zx509.ParseCertificate(subjects[name])
		if err != nil {
			t.Fatal(err)
		}
		rs := zlint.LintCertificateEx(zc, reg)
		var findings []string
		for _, lname := range slices.Sorted(mapKeys(rs.Results)) {
			if r := rs.Results[lname]; r.Status >= lint.Warn {
				findings = append(findings, lname)
			}
		}
		t.Logf("%s: left aside: %s", name, strings.Join(findings, " "))
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
