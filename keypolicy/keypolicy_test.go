package keypolicy_test

import (
	"testing"

	"github.com/lantls/lantls/internal/testkeys"
	"github.com/lantls/lantls/keypolicy"
	"github.com/lantls/lantls/problem"
)

// TestPolicy runs the key policy table (testkeys): RSA 1024 to 8192,
// P-256, P-384, P-521 and Ed25519, each as account key and certificate key.
func TestPolicy(t *testing.T) {
	for _, k := range testkeys.All() {
		t.Run(k.Name, func(t *testing.T) {
			check(t, "account key", keypolicy.Default.AccountKey(k.Signer.Public()), k.WantAccount)
			check(t, "certificate key", keypolicy.Default.CertificateKey(k.Signer.Public()), k.WantCertificate)
		})
	}
}

func TestPolicyOptions(t *testing.T) {
	p := keypolicy.Policy{MinRSABits: 4096, NoEd25519Accounts: true}
	check(t, "RSA 2048 under a 4096-bit minimum", p.AccountKey(testkeys.Get("RSA 2048").Public()), problem.BadPublicKey)
	check(t, "RSA 4096 under a 4096-bit minimum", p.CertificateKey(testkeys.Get("RSA 4096").Public()), "")
	check(t, "Ed25519 account key refused", p.AccountKey(testkeys.Get("Ed25519").Public()), problem.BadPublicKey)
	check(t, "a key that is no key", keypolicy.Default.AccountKey("not a key"), problem.BadPublicKey)
}

func check(t *testing.T, what string, err error, want problem.Kind) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("%s: %v, want accepted", what, err)
	case want != "" && !problem.Is(err, want):
		t.Errorf("%s: %v, want %s", what, err, want)
	}
}
