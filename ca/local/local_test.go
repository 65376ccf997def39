package local

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	testZone    = "lan.test"
	testBaseURL = "http://127.0.0.1:8080"
	// testLabel is names.Label of the P-256 key whose scalar is 1; any
	// valid label would do.
	testLabel = "ltjff6ym5cjsinx27dgncbajqe"
)

var testNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// testPermit is what the test CAs' roots permit besides the zone: what an
// issuer named hub.example.net listening on loopback would list.
var testPermit = []string{"localhost", "hub.example.net", "127.0.0.1", "::1"}

// openCA opens a CA for testZone in a new directory under t.TempDir, its
// root permitting testPermit besides the zone, and its root key in
// rootKeyPath(dir).
func openCA(t testing.TB) (*CA, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ca")
	c, err := Open(dir, Options{Zone: testZone, BaseURL: testBaseURL, Now: func() time.Time { return testNow },
		Init: InitOptions{Permit: testPermit, RootKeyFile: rootKeyPath(dir)}})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return c, dir
}

// rootKeyPath is where openCA keeps the root key of the CA in dir: beside
// the directory, not in it.
func rootKeyPath(dir string) string { return dir + "-root.key" }

// newCSR returns a CSR signed by key for names.
func newCSR(t testing.TB, key crypto.Signer, dnsNames ...string) *x509.CertificateRequest {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: dnsNames}, key)
	if err != nil {
		t.Fatalf("create CSR: %v", err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatalf("parse CSR: %v", err)
	}
	return csr
}

func p256Key(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestOpenCreatesFiles(t *testing.T) {
	c, dir := openCA(t)
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("%s has mode %v, want 0700", dir, st.Mode().Perm())
	}
	for _, name := range []string{RootCertFile, IntermediateCertFile, IntermediateKeyFile, "../ca-root.key"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, st.Mode().Perm())
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 3 {
		var got []string
		for _, e := range ents {
			got = append(got, e.Name())
		}
		t.Errorf("directory holds %q, want only the 3 CA files (no root key)", got)
	}
	for _, path := range []string{filepath.Join(dir, IntermediateKeyFile), rootKeyPath(dir)} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte("-----BEGIN PRIVATE KEY-----\n")) {
			t.Errorf("%s is not a PKCS#8 PEM key", path)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, RootCertFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, c.RootPEM()) {
		t.Errorf("RootPEM differs from %s", RootCertFile)
	}
}

func TestOpenLoadsSameCA(t *testing.T) {
	first, dir := openCA(t)
	second, err := Open(dir, Options{Zone: testZone, BaseURL: testBaseURL})
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	if !first.Root().Equal(second.Root()) {
		t.Error("second Open loaded another root")
	}
	if !first.Intermediate().Equal(second.Intermediate()) {
		t.Error("second Open loaded another intermediate")
	}
	// The loaded keys must be the ones that sign.
	if _, err := second.Sign(t.Context(), leafRequest(t, p256Key(t))); err != nil {
		t.Fatalf("Sign with loaded CA: %v", err)
	}
	// A zone given in another spelling is the same zone.
	if _, err := Open(dir, Options{Zone: "LAN.test."}); err != nil {
		t.Errorf("Open with zone LAN.test.: %v", err)
	}
}

func TestOpenExistingEmptyDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{Zone: testZone}); err != nil {
		t.Fatalf("Open empty directory: %v", err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("%s has mode %v, want 0700", dir, st.Mode().Perm())
	}
}

func TestOpenZoneMismatch(t *testing.T) {
	_, dir := openCA(t)
	_, err := Open(dir, Options{Zone: "other.test"})
	if err == nil {
		t.Fatal("Open with another zone succeeded")
	}
	for _, want := range []string{dir, `made for zone "lan.test"`, `not "other.test"`, "use zone lan.test", "a new CA directory"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	// Flags are the command's to name, not the library's.
	if strings.Contains(err.Error(), "--") {
		t.Errorf("error %q names a command-line flag", err)
	}
	var ze *ZoneError
	if !errors.As(err, &ze) || ze.Made != "lan.test" || ze.Want != "other.test" {
		t.Errorf("error %v is not a ZoneError from lan.test to other.test", err)
	}
}

func TestOpenHalfWritten(t *testing.T) {
	all := []string{RootCertFile, IntermediateKeyFile, IntermediateCertFile}
	tests := []struct {
		name   string
		remove []string
	}{
		{"only intermediate key", []string{RootCertFile, IntermediateCertFile}},
		{"root only", []string{IntermediateKeyFile, IntermediateCertFile}},
		{"no intermediate certificate", []string{IntermediateCertFile}},
		{"no intermediate key", []string{IntermediateKeyFile}},
		{"only intermediate", []string{RootCertFile}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, dir := openCA(t)
			for _, name := range tt.remove {
				if err := os.Remove(filepath.Join(dir, name)); err != nil {
					t.Fatal(err)
				}
			}
			before := snapshot(t, dir, all)
			_, err := Open(dir, Options{Zone: testZone})
			if err == nil {
				t.Fatal("Open of a half-written directory succeeded")
			}
			for _, name := range tt.remove {
				if !strings.Contains(err.Error(), name) {
					t.Errorf("error %q does not name missing %s", err, name)
				}
			}
			if !strings.Contains(err.Error(), "remove the directory") {
				t.Errorf("error %q does not say what to do", err)
			}
			if after := snapshot(t, dir, all); after != before {
				t.Errorf("Open changed the directory: %q -> %q", before, after)
			}
		})
	}
}

// snapshot returns the contents of the files in dir that exist.
func snapshot(t *testing.T, dir string, files []string) string {
	t.Helper()
	var b strings.Builder
	for _, name := range files {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil {
			b.WriteString(name + "=" + string(data) + ";")
		}
	}
	return b.String()
}

func TestOpenRejectsDamagedFiles(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   string
	}{
		{"root key as intermediate key", func(t *testing.T, dir string) {
			data, err := os.ReadFile(rootKeyPath(dir))
			if err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(dir, IntermediateKeyFile), string(data))
		}, "does not hold the key"},
		{"swapped certificates", func(t *testing.T, dir string) {
			swap(t, filepath.Join(dir, RootCertFile), filepath.Join(dir, IntermediateCertFile))
		}, "does not hold the key"},
		{"intermediate of another CA", func(t *testing.T, dir string) {
			_, other := openCA(t)
			for _, name := range []string{IntermediateCertFile, IntermediateKeyFile} {
				data, err := os.ReadFile(filepath.Join(other, name))
				if err != nil {
					t.Fatal(err)
				}
				write(t, filepath.Join(dir, name), string(data))
			}
		}, "is not signed by"},
		{"garbage key", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, IntermediateKeyFile), "not a key")
		}, "PEM block of type PRIVATE KEY"},
		{"certificate in key file", func(t *testing.T, dir string) {
			data, err := os.ReadFile(filepath.Join(dir, RootCertFile))
			if err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(dir, IntermediateKeyFile), string(data))
		}, "PEM block of type PRIVATE KEY"},
		{"two certificates", func(t *testing.T, dir string) {
			data, err := os.ReadFile(filepath.Join(dir, RootCertFile))
			if err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(dir, RootCertFile), string(data)+string(data))
		}, "data after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, dir := openCA(t)
			tt.damage(t, dir)
			_, err := Open(dir, Options{Zone: testZone})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func swap(t *testing.T, a, b string) {
	t.Helper()
	if err := os.Rename(a, a+".swap"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(b, a); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(a+".swap", b); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"empty zone", Options{}},
		{"single-label zone", Options{Zone: "lan"}},
		{"wildcard zone", Options{Zone: "*.lan.test"}},
		{"zone with space", Options{Zone: "lan test.x"}},
		{"IP zone", Options{Zone: "192.168.1.1"}},
		{"ftp base URL", Options{Zone: testZone, BaseURL: "ftp://127.0.0.1"}},
		{"relative base URL", Options{Zone: testZone, BaseURL: "/ca"}},
		{"base URL without host", Options{Zone: testZone, BaseURL: "https://"}},
		{"non-ASCII base URL", Options{Zone: testZone, BaseURL: "https://hüb.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ca")
			if _, err := Open(dir, tt.opts); err == nil {
				t.Fatal("Open succeeded")
			}
			if _, err := os.Stat(dir); err == nil {
				t.Error("Open made the directory although it failed")
			}
		})
	}
}

var oidNameConstraints = asn1.ObjectIdentifier{2, 5, 29, 30}

func TestRootAndIntermediate(t *testing.T) {
	c, _ := openCA(t)
	root, inter := c.Root(), c.Intermediate()
	tests := []struct {
		name     string
		cert     *x509.Certificate
		cn       string
		years    int
		issuer   *x509.Certificate
		pathZero bool
	}{
		{"root", root, "lantls local root lan.test", RootLifetimeYears, root, false},
		{"intermediate", inter, "lantls local intermediate lan.test", IntermediateLifetimeYears, root, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert := tt.cert
			if cert.Subject.CommonName != tt.cn || len(cert.Subject.Organization) != 1 || cert.Subject.Organization[0] != "lantls" {
				t.Errorf("subject = %v, want CN=%s, O=lantls", cert.Subject, tt.cn)
			}
			if !cert.BasicConstraintsValid || !cert.IsCA {
				t.Error("not a CA certificate")
			}
			if tt.pathZero && (cert.MaxPathLen != 0 || !cert.MaxPathLenZero) {
				t.Errorf("path length = %d, want 0", cert.MaxPathLen)
			}
			if cert.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
				t.Errorf("key usage = %b, want certSign|crlSign", cert.KeyUsage)
			}
			if want := testNow.Add(-Backdate); !cert.NotBefore.Equal(want) {
				t.Errorf("NotBefore = %v, want %v", cert.NotBefore, want)
			}
			if want := cert.NotBefore.AddDate(tt.years, 0, 0); !cert.NotAfter.Equal(want) {
				t.Errorf("NotAfter = %v, want %v", cert.NotAfter, want)
			}
			pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
			if !ok || pub.Curve != elliptic.P256() {
				t.Errorf("key is %T, want ECDSA P-256", cert.PublicKey)
			}
			if len(cert.SubjectKeyId) != 20 {
				t.Errorf("subject key identifier has %d bytes, want 20", len(cert.SubjectKeyId))
			}
			if err := cert.CheckSignatureFrom(tt.issuer); err != nil {
				t.Errorf("not signed by %s: %v", tt.issuer.Subject.CommonName, err)
			}
			if cert.SerialNumber.Sign() <= 0 || cert.SerialNumber.BitLen() > 127 {
				t.Errorf("serial %x is not a positive 127-bit number", cert.SerialNumber)
			}
		})
	}
	if !bytes.Equal(inter.AuthorityKeyId, root.SubjectKeyId) {
		t.Error("intermediate's authority key identifier is not the root's subject key identifier")
	}
	if len(inter.ExtKeyUsage) != 1 || inter.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("intermediate EKU = %v, want serverAuth", inter.ExtKeyUsage)
	}
	// The root and the intermediate carry the same critical constraints.
	for _, cert := range []*x509.Certificate{root, inter} {
		wantConstraints(t, cert, []string{testZone, "localhost", "hub.example.net"}, []string{"127.0.0.1/32", "::1/128"}, nil)
	}
	if c.Zone() != testZone {
		t.Errorf("Zone = %q, want %q", c.Zone(), testZone)
	}
}

// wantConstraints checks that cert has critical name constraints that
// permit exactly dnsNames and ips and exclude exactly excluded.
func wantConstraints(t *testing.T, cert *x509.Certificate, dnsNames, ips, excluded []string) {
	t.Helper()
	if !slices.Equal(cert.PermittedDNSDomains, dnsNames) || !cert.PermittedDNSDomainsCritical {
		t.Errorf("%s: permitted DNS domains = %q (critical %v), want %q critical", cert.Subject.CommonName, cert.PermittedDNSDomains, cert.PermittedDNSDomainsCritical, dnsNames)
	}
	if !extensionCritical(cert, oidNameConstraints) {
		t.Errorf("%s: name constraints extension is missing or not critical", cert.Subject.CommonName)
	}
	var got []string
	for _, n := range cert.PermittedIPRanges {
		got = append(got, n.String())
	}
	if !slices.Equal(got, ips) {
		t.Errorf("%s: permitted IP ranges = %q, want %q", cert.Subject.CommonName, got, ips)
	}
	got = nil
	for _, n := range cert.ExcludedIPRanges {
		got = append(got, n.String())
	}
	if !slices.Equal(got, excluded) {
		t.Errorf("%s: excluded IP ranges = %q, want %q", cert.Subject.CommonName, got, excluded)
	}
}
