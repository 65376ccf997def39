package attest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/lantls/lantls/agent"
	"github.com/lantls/lantls/attest"
)

const keyAuth = "token.thumbprint"

func maker(t testing.TB, name string) *agent.TestManufacturer {
	t.Helper()
	m, err := agent.NewTestManufacturer(name)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// packed makes a "packed" statement: key signs msg, leaf in x5c.
func packed(t testing.TB, key *ecdsa.PrivateKey, msg string, x5c ...[]byte) []byte {
	t.Helper()
	d := sha256.Sum256([]byte(msg))
	sig, err := ecdsa.SignASN1(rand.Reader, key, d[:])
	if err != nil {
		t.Fatal(err)
	}
	obj, err := attest.Marshal(attest.FormatPacked, attest.PackedStatement{Alg: attest.AlgES256, Sig: sig, X5C: x5c})
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

func TestPackedVerifies(t *testing.T) {
	m := maker(t, "Maker")
	att, err := agent.NewSoftwareAttester(m, attest.PermanentIdentifier, "SN-1/1.3.6.1.4.1.99999")
	if err != nil {
		t.Fatal(err)
	}
	obj, err := att.Attest(context.Background(), keyAuth)
	if err != nil {
		t.Fatal(err)
	}
	v := attest.Verifier{Roots: []*x509.Certificate{m.Cert}}
	res, err := v.Verify(obj, keyAuth)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	key, _ := att.Key(context.Background())
	if res.Format != attest.FormatPacked || !key.Public().(*ecdsa.PublicKey).Equal(res.Key) {
		t.Errorf("format %q key %v, want packed and the attester's key", res.Format, res.Key)
	}
	if !res.Proves(attest.PermanentIdentifier, "SN-1/1.3.6.1.4.1.99999") || res.Proves(attest.PermanentIdentifier, "SN-1") {
		t.Errorf("identifiers %v, want exactly SN-1 with its assigner", res.PermanentIdentifiers)
	}
	if res.RootFingerprint() != attest.Fingerprint(m.Cert) || res.Root.Subject.String() != m.Cert.Subject.String() {
		t.Errorf("root %s, want the maker's", res.Root.Subject)
	}
}

func TestHardwareModuleIdentifier(t *testing.T) {
	m := maker(t, "Maker")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf, err := m.Certify(key.Public(), attest.HardwareModule, "HSM-77/1.2.3.4", agent.CertifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v := attest.Verifier{Roots: []*x509.Certificate{m.Cert}}
	res, err := v.Verify(packed(t, key, keyAuth, leaf), keyAuth)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !res.Proves(attest.HardwareModule, "HSM-77/1.2.3.4") || len(res.PermanentIdentifiers) != 0 {
		t.Errorf("hardware modules %v, permanent %v; want exactly HSM-77/1.2.3.4", res.HardwareModules, res.PermanentIdentifiers)
	}
}

// TestRefused checks each reason a statement is refused, and that the
// reason is in the error, which becomes badAttestationStatement's detail.
func TestRefused(t *testing.T) {
	m, other := maker(t, "Maker"), maker(t, "Other")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf, err := m.Certify(key.Public(), attest.PermanentIdentifier, "SN-1", agent.CertifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	expired, err := m.Certify(key.Public(), attest.PermanentIdentifier, "SN-1", agent.CertifyOptions{
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	good := packed(t, key, keyAuth, leaf)
	badSig := packed(t, key, keyAuth, leaf)
	var obj attest.Object
	var st attest.PackedStatement
	if err := cbor.Unmarshal(badSig, &obj); err != nil {
		t.Fatal(err)
	}
	if err := cbor.Unmarshal(obj.Statement, &st); err != nil {
		t.Fatal(err)
	}
	st.Sig[len(st.Sig)-3] ^= 1
	if badSig, err = attest.Marshal(attest.FormatPacked, st); err != nil {
		t.Fatal(err)
	}
	none, _ := attest.Marshal("none", map[string]any{})
	tpmGarbage, _ := attest.Marshal(attest.FormatTPM, attest.TPMStatement{Ver: "2.0", Alg: attest.AlgES256, PubArea: []byte{1, 2, 3}})
	dup := []byte{0xa2, 0x63, 'f', 'm', 't', 0x64, 'n', 'o', 'n', 'e', 0x63, 'f', 'm', 't', 0x64, 'n', 'o', 'n', 'e'}

	trusting := attest.Verifier{Roots: []*x509.Certificate{m.Cert}}
	for _, tc := range []struct {
		name    string
		v       attest.Verifier
		obj     []byte
		keyAuth string
		want    string
	}{
		{"malformed CBOR", trusting, []byte{0xff, 0x00}, keyAuth, "not the CBOR map"},
		{"truncated CBOR", trusting, good[:len(good)/2], keyAuth, "not the CBOR map"},
		{"duplicate map key", trusting, dup, keyAuth, "not the CBOR map"},
		{"not a map", trusting, []byte{0x01}, keyAuth, "not the CBOR map"},
		{"too large", trusting, make([]byte, attest.MaxObject+1), keyAuth, "more than"},
		{"unsupported format", trusting, none, keyAuth, `"none" is not supported`},
		{"bad packed signature", trusting, badSig, keyAuth, "signature does not verify"},
		{"replayed for another challenge", trusting, good, "other.thumbprint", "signature does not verify"},
		{"wrong root", attest.Verifier{Roots: []*x509.Certificate{other.Cert}}, good, keyAuth, "does not chain to a root"},
		{"no roots configured", attest.Verifier{}, good, keyAuth, "no attestation roots"},
		{"expired attestation certificate", trusting, packed(t, key, keyAuth, expired), keyAuth, "is valid from"},
		{"self attestation", trusting, packed(t, key, keyAuth), keyAuth, "self attestation"},
		{"CA as leaf", trusting, packed(t, key, keyAuth, m.Cert.Raw), keyAuth, "is a CA certificate"},
		{"tpm garbage", trusting, tpmGarbage, keyAuth, "pubArea"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := tc.v.Verify(tc.obj, tc.keyAuth)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Verify: %v, %v; want an error saying %q", res, err, tc.want)
			}
		})
	}
}

func TestValidIdentifier(t *testing.T) {
	for _, tc := range []struct {
		typ, value string
		ok         bool
	}{
		{attest.PermanentIdentifier, "ABCDEF123456", true},
		{attest.PermanentIdentifier, "ABCDEF123456/1.2.3.4", true},
		{attest.PermanentIdentifier, "ABC/2.999", true},
		{attest.PermanentIdentifier, "ABC/", false},
		{attest.PermanentIdentifier, "/1.2.3", false},
		{attest.PermanentIdentifier, "ABC/3.1", false},
		{attest.PermanentIdentifier, "ABC/1.40", false},
		{attest.PermanentIdentifier, "ABC/1.02", false},
		{attest.PermanentIdentifier, "A/B/1.2", false},
		{attest.PermanentIdentifier, "\xff", false},
		{attest.HardwareModule, "ABCD/1.2.3.4", true},
		{attest.HardwareModule, "ABCD", false},
		{"dns", "ABCD", false},
	} {
		err := attest.ValidIdentifier(tc.typ, tc.value)
		if (err == nil) != tc.ok {
			t.Errorf("ValidIdentifier(%s, %q) = %v, want ok %t", tc.typ, tc.value, err, tc.ok)
		}
	}
}

func TestLoadRoots(t *testing.T) {
	m := maker(t, "Maker")
	dir := t.TempDir()
	if _, err := attest.LoadRoots(dir); err == nil || !strings.Contains(err.Error(), "no attestation roots") {
		t.Errorf("LoadRoots of an empty directory: %v, want an error", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "maker.pem"), m.RootPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte("not a root"), 0o644); err != nil {
		t.Fatal(err)
	}
	roots, err := attest.LoadRoots(dir)
	if err != nil || len(roots) != 1 || !roots[0].Equal(m.Cert) {
		t.Fatalf("LoadRoots: %v, %v; want the maker's root", roots, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "broken.crt"), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := attest.LoadRoots(dir); err == nil || !strings.Contains(err.Error(), "broken.crt") {
		t.Errorf("LoadRoots with a broken file: %v, want an error naming it", err)
	}
}
