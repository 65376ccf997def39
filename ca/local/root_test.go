package local

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestInitConstraints(t *testing.T) {
	tests := []struct {
		name     string
		permit   []string
		dns      []string
		ips      []string
		excluded []string
	}{
		{"zone only", nil, []string{testZone}, nil, []string{"0.0.0.0/0", "::/0"}},
		{"loopback", []string{"localhost", "127.0.0.1", "::1"}, []string{testZone, "localhost"}, []string{"127.0.0.1/32", "::1/128"}, nil},
		{"IPv4 only", []string{"192.168.1.0/24", "10.0.0.7"}, []string{testZone}, []string{"192.168.1.0/24", "10.0.0.7/32"}, []string{"::/0"}},
		{"IPv6 only", []string{"[fd00::1]"}, []string{testZone}, []string{"fd00::1/128"}, []string{"0.0.0.0/0"}},
		{"names in the zone and repeats left out", []string{"hub.lan.test", "LOCAL", "local.", "x.local", "192.168.1.77/24", "192.168.1.0/24"},
			[]string{testZone, "local"}, []string{"192.168.1.0/24"}, []string{"::/0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ca")
			root, err := Init(dir, InitOptions{Zone: testZone, Permit: tt.permit})
			if err != nil {
				t.Fatalf("Init: %v", err)
			}
			wantConstraints(t, root, tt.dns, tt.ips, tt.excluded)
			c, err := Open(dir, Options{Zone: testZone})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			wantConstraints(t, c.Intermediate(), tt.dns, tt.ips, tt.excluded)
			if c.Legacy() || c.StrayRootKey() {
				t.Error("a new CA is legacy or has a stray root key")
			}
		})
	}
}

func TestInitRefuses(t *testing.T) {
	_, existing := openCA(t)
	tests := []struct {
		name string
		dir  string
		opts InitOptions
		want string
	}{
		{"bad permit", "", InitOptions{Zone: testZone, Permit: []string{"a b"}}, "neither a DNS name nor an IP address"},
		{"address with zone", "", InitOptions{Zone: testZone, Permit: []string{"fe80::1%eth0"}}, "has a zone"},
		{"root key in CA dir", "", InitOptions{Zone: testZone, RootKeyFile: "CA/sub/root.key"}, "inside the CA directory"},
		{"root key is CA dir", "", InitOptions{Zone: testZone, RootKeyFile: "CA"}, "inside the CA directory"},
		{"root key exists", "", InitOptions{Zone: testZone, RootKeyFile: rootKeyPath(existing)}, "already exists"},
		{"CA exists", existing, InitOptions{Zone: testZone}, "already exists"},
		{"bad zone", "", InitOptions{Zone: "lan"}, "not a DNS name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.dir
			if dir == "" {
				dir = filepath.Join(t.TempDir(), "ca")
			}
			tt.opts.RootKeyFile = strings.Replace(tt.opts.RootKeyFile, "CA", dir, 1)
			before := snapshot(t, dir, append([]string{RootKeyFile}, files...))
			_, err := Init(dir, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Init = %v, want error containing %q", err, tt.want)
			}
			if after := snapshot(t, dir, append([]string{RootKeyFile}, files...)); after != before {
				t.Error("Init changed the CA directory although it failed")
			}
		})
	}
}

// readTestRootKey reads the root key openCA wrote for the CA in dir.
func readTestRootKey(t *testing.T, dir string) crypto.Signer {
	t.Helper()
	k, err := ReadRootKey(rootKeyPath(dir), nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestRootConstraintsHold makes, with the root's own key, an intermediate
// without any name constraint, as a thief of the root key would, and signs
// leaves with it: the root's constraints must still refuse every name and
// address it does not permit.
func TestRootConstraintsHold(t *testing.T) {
	c, dir := openCA(t)
	rootKey := readTestRootKey(t, dir)
	key := p256Key(t)
	tmpl, err := caTemplate(testNow, &key.PublicKey, "rogue intermediate", 1)
	if err != nil {
		t.Fatal(err)
	}
	rogue, err := createCertificate(tmpl, c.Root(), &key.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host    string
		allowed bool
	}{
		{"x.lan.test", true},
		{"localhost", true},
		{"127.0.0.1", true},
		{"example.com", false},
		{"hub.example.org", false},
		{"192.168.1.1", false},
		{"fd00::1", false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			leafTmpl := &x509.Certificate{
				SerialNumber: big.NewInt(2),
				NotBefore:    testNow.Add(-time.Hour),
				NotAfter:     testNow.Add(time.Hour),
				KeyUsage:     x509.KeyUsageDigitalSignature,
				ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			}
			if ip := net.ParseIP(tt.host); ip != nil {
				leafTmpl.IPAddresses = []net.IP{ip}
			} else {
				leafTmpl.DNSNames = []string{tt.host}
			}
			leaf, err := createCertificate(leafTmpl, rogue, &key.PublicKey, key)
			if err != nil {
				t.Fatal(err)
			}
			opts := verifyOpts(c, tt.host)
			opts.Intermediates = x509.NewCertPool()
			opts.Intermediates.AddCert(rogue)
			_, err = leaf.Verify(opts)
			if tt.allowed {
				if err != nil {
					t.Errorf("Verify: %v", err)
				}
				return
			}
			var invalid x509.CertificateInvalidError
			if !errors.As(err, &invalid) || invalid.Reason != x509.CANotAuthorizedForThisName {
				t.Errorf("Verify = %v, want CANotAuthorizedForThisName", err)
			}
		})
	}
}

// TestLegacyCA opens a CA directory as an older lantls made it: a root
// without name constraints and its key in the directory. It keeps working:
// its root signs the issuer's own certificate.
func TestLegacyCA(t *testing.T) {
	dir := makeLegacyCA(t)
	c, err := Open(dir, Options{Zone: testZone, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if !c.Legacy() {
		t.Error("Legacy = false")
	}
	if _, err := c.Sign(t.Context(), leafRequest(t, p256Key(t))); err != nil {
		t.Errorf("Sign: %v", err)
	}
	cert, err := c.ServerCertificate([]string{"localhost", "127.0.0.1"})
	if err != nil {
		t.Fatalf("ServerCertificate: %v", err)
	}
	if !bytes.Equal(cert.Leaf.RawIssuer, c.Root().RawSubject) {
		t.Error("the legacy issuer certificate is not signed by the root")
	}
	if _, err := cert.Leaf.Verify(verifyOpts(c, "127.0.0.1")); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if _, err := RotateIntermediate(dir, c.rootKey, testNow); err == nil || !strings.Contains(err.Error(), "no name constraints") {
		t.Errorf("RotateIntermediate of a legacy CA = %v, want a refusal", err)
	}

	if err := os.Remove(filepath.Join(dir, RootKeyFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{Zone: testZone}); err == nil || !strings.Contains(err.Error(), RootKeyFile) {
		t.Errorf("Open of a legacy CA without its root key = %v, want an error naming %s", err, RootKeyFile)
	}
}

// makeLegacyCA writes a CA directory as lantls made it before roots were
// constrained.
func makeLegacyCA(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ca")
	rootKey, interKey := p256Key(t), p256Key(t)
	rootTmpl, err := caTemplate(testNow, &rootKey.PublicKey, "lantls local root "+testZone, RootLifetimeYears)
	if err != nil {
		t.Fatal(err)
	}
	root, err := createCertificate(rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	interTmpl, err := caTemplate(testNow, &interKey.PublicKey, "lantls local intermediate "+testZone, IntermediateLifetimeYears)
	if err != nil {
		t.Fatal(err)
	}
	interTmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	interTmpl.MaxPathLen, interTmpl.MaxPathLenZero = 0, true
	constrain(interTmpl, []string{testZone}, nil)
	inter, err := createCertificate(interTmpl, root, &interKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeCA(dir, root, inter, interKey); err != nil {
		t.Fatal(err)
	}
	keyPEM, err := marshalKey(rootKey)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, RootKeyFile), string(keyPEM))
	return dir
}

// TestStrayRootKey: a constrained root's key copied into the CA directory
// is reported and never loaded.
func TestStrayRootKey(t *testing.T) {
	_, dir := openCA(t)
	data, err := os.ReadFile(rootKeyPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, RootKeyFile), string(data))
	c, err := Open(dir, Options{Zone: testZone})
	if err != nil {
		t.Fatal(err)
	}
	if !c.StrayRootKey() || c.Legacy() || c.rootKey != nil {
		t.Errorf("StrayRootKey = %v, Legacy = %v, root key loaded = %v; want true, false, false", c.StrayRootKey(), c.Legacy(), c.rootKey != nil)
	}
}

func TestRotateIntermediate(t *testing.T) {
	old, dir := openCA(t)
	if len(old.Intermediates()) != 1 {
		t.Errorf("a new CA has %d intermediates, want 1", len(old.Intermediates()))
	}
	rootKey := readTestRootKey(t, dir)
	later := testNow.Add(24 * time.Hour)
	inter, err := RotateIntermediate(dir, rootKey, later)
	if err != nil {
		t.Fatalf("RotateIntermediate: %v", err)
	}
	if inter.Equal(old.Intermediate()) || !inter.NotBefore.Equal(later.Add(-Backdate)) {
		t.Fatal("RotateIntermediate made no new intermediate")
	}
	wantConstraints(t, inter, old.Root().PermittedDNSDomains, []string{"127.0.0.1/32", "::1/128"}, nil)
	c, err := Open(dir, Options{Zone: testZone, Now: func() time.Time { return later }})
	if err != nil {
		t.Fatalf("Open after rotation: %v", err)
	}
	if !c.Intermediate().Equal(inter) {
		t.Error("Open loaded another intermediate than the new one")
	}
	if all := c.Intermediates(); len(all) != 2 || !all[0].Equal(inter) || !all[1].Equal(old.Intermediate()) {
		t.Errorf("Intermediates has %d certificates, want the new then the old", len(all))
	}

	// The CA opened before the rotation takes the new intermediate on
	// Reload, without a restart, and signs with it at once.
	if changed, err := old.Reload(); err != nil || !changed {
		t.Fatalf("Reload = %v, %v; want a change", changed, err)
	}
	if !old.Intermediate().Equal(inter) || len(old.Intermediates()) != 2 {
		t.Error("Reload did not take the new intermediate")
	}
	if changed, err := old.Reload(); err != nil || changed {
		t.Errorf("second Reload = %v, %v; want no change", changed, err)
	}
	issued, err := c.Sign(t.Context(), leafRequest(t, p256Key(t)))
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	leaf, err := x509.ParseCertificate(issued.DER)
	if err != nil {
		t.Fatal(err)
	}
	opts := verifyOpts(c, "x."+testLabel+"."+testZone)
	opts.CurrentTime = later
	if _, err := leaf.Verify(opts); err != nil {
		t.Errorf("leaf of the new intermediate: %v", err)
	}

	if _, err := RotateIntermediate(dir, p256Key(t), later); err == nil || !strings.Contains(err.Error(), "not the key of") {
		t.Errorf("RotateIntermediate with another key = %v", err)
	}
	// A second rotation keeps both earlier intermediates.
	third, err := RotateIntermediate(dir, rootKey, later.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Reload(); err != nil {
		t.Fatal(err)
	}
	if all := old.Intermediates(); len(all) != 3 || !all[0].Equal(third) || !all[2].Equal(inter) {
		t.Errorf("after two rotations Intermediates has %d certificates, want the newest first, then the oldest, then the second", len(all))
	}
}

// TestRotationFinishedByOpen: a rotation cut off after its new certificate
// was written is finished by the next Open; one cut off before is undone.
func TestRotationFinishedByOpen(t *testing.T) {
	old, dir := openCA(t)
	rootKey := readTestRootKey(t, dir)
	inter, key, err := newIntermediate(testNow, old.Root(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := marshalKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPath, certPath := filepath.Join(dir, IntermediateKeyFile), filepath.Join(dir, IntermediateCertFile)

	// Only the key written: the rotation never happened.
	write(t, keyPath+nextSuffix, string(keyPEM))
	c, err := Open(dir, Options{Zone: testZone})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Intermediate().Equal(old.Intermediate()) {
		t.Error("a rotation without its certificate was finished")
	}
	if _, err := os.Stat(keyPath + nextSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the unused key is still there: %v", err)
	}

	// A running issuer's Reload, meanwhile, leaves a rotation in
	// progress alone: a key without its certificate yet is not abandoned
	// to it (the rotating process writes the certificate next).
	write(t, keyPath+nextSuffix, string(keyPEM))
	if changed, err := c.Reload(); err != nil || changed {
		t.Errorf("Reload during a rotation = %v, %v; want no change", changed, err)
	}
	if _, err := os.Stat(keyPath + nextSuffix); err != nil {
		t.Errorf("Reload removed the key of a rotation in progress: %v", err)
	}
	os.Remove(keyPath + nextSuffix)

	// The key renamed, the certificate not yet.
	write(t, keyPath, string(keyPEM))
	write(t, certPath+nextSuffix, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: inter.Raw})))
	if c, err = Open(dir, Options{Zone: testZone}); err != nil {
		t.Fatalf("Open: %v", err)
	}
	if !c.Intermediate().Equal(inter) {
		t.Error("the rotation was not finished")
	}
}

func TestRootKeyEncrypted(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	keyFile := filepath.Join(t.TempDir(), "root.key")
	pass := []byte("correct horse battery staple")
	root, err := Init(dir, InitOptions{Zone: testZone, RootKeyFile: keyFile, Passphrase: pass})
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	data, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if !IsEncrypted(data) || bytes.Contains(data, []byte("BEGIN PRIVATE KEY")) {
		t.Fatalf("the key file is not encrypted:\n%s", data)
	}
	k, err := ReadRootKey(keyFile, pass)
	if err != nil {
		t.Fatalf("ReadRootKey: %v", err)
	}
	if !publicKeyEqual(k.Public(), root.PublicKey) {
		t.Error("the decrypted key is not the root's")
	}
	for _, wrong := range [][]byte{nil, []byte("wrong")} {
		if _, err := ReadRootKey(keyFile, wrong); !errors.Is(err, ErrPassphrase) {
			t.Errorf("ReadRootKey with passphrase %q = %v, want ErrPassphrase", wrong, err)
		}
	}
	if _, err := RotateIntermediate(dir, k, testNow); err != nil {
		t.Errorf("RotateIntermediate with the decrypted key: %v", err)
	}

	// openssl reads the file: the format is standard encrypted PKCS#8.
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("no openssl")
	}
	passFile := filepath.Join(t.TempDir(), "pass")
	write(t, passFile, string(pass))
	out, err := exec.Command("openssl", "pkey", "-in", keyFile, "-passin", "file:"+passFile, "-pubout").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl pkey: %v\n%s", err, out)
	}
	block, _ := pem.Decode(out)
	spki, err := x509.MarshalPKIXPublicKey(root.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if block == nil || !bytes.Equal(block.Bytes, spki) {
		t.Errorf("openssl decrypted another key:\n%s", out)
	}
}

func FuzzDecryptPKCS8(f *testing.F) {
	k := p256Key(f)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		f.Fatal(err)
	}
	block, err := encryptPKCS8(der, []byte("pw"), 1)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(block.Bytes)
	f.Add([]byte{0x30, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		decryptPKCS8(b, []byte("pw"))
	})
}
