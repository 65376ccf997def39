package issuer_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lantls/lantls/ca/local"
	"github.com/lantls/lantls/internal/testwait"
	"github.com/lantls/lantls/issuer"
	"github.com/lantls/lantls/issuer/issuertest"
)

// TestFreshIssuerCA: a new issuer's root has critical name constraints
// (the zone, its host name, its listen IP), no file under its data dir
// holds the root's key, and its HTTPS certificate chains through a
// constrained intermediate.
func TestFreshIssuerCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	iss, roots := issuertest.Start(t, issuer.Config{DataDir: dir, Hostnames: []string{"localhost", "hub.lan.test"}})
	root, err := x509.ParseCertificate(pemDER(t, iss.RootPEM()))
	if err != nil {
		t.Fatal(err)
	}
	d := local.Describe(root)
	if !d.Constrained {
		t.Fatal("the root has no critical name constraints")
	}
	if got, want := strings.Join(d.Permitted, " "), "DNS:lan.test DNS:localhost IP:127.0.0.1/32"; got != want {
		t.Errorf("root permits %q, want %q", got, want)
	}
	if got, want := strings.Join(d.Excluded, " "), "IP:::/0"; got != want {
		t.Errorf("root excludes %q, want %q", got, want)
	}

	keyFile := dir + "-root.key"
	if iss.NewRootKey() != keyFile {
		t.Errorf("NewRootKey = %q, want %q", iss.NewRootKey(), keyFile)
	}
	rootKey, err := local.ReadRootKey(keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	k := rootKey.(*ecdsa.PrivateKey)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	scalar, err := k.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, secret := range [][]byte{pkcs8, keyPEM, scalar} {
			if bytes.Contains(b, secret) {
				t.Errorf("%s holds the root's private key", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	addr := strings.TrimPrefix(iss.Info().BaseURL, "https://")
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "localhost"})
	if err != nil {
		t.Fatalf("HTTPS handshake as localhost: %v", err)
	}
	defer conn.Close()
	chain := conn.ConnectionState().VerifiedChains[0]
	if len(chain) != 3 || !chain[2].Equal(root) {
		t.Fatalf("chain has %d certificates, want leaf, intermediate, root", len(chain))
	}
	if inter := local.Describe(chain[1]); !inter.Constrained || !chain[1].IsCA || chain[1].Equal(root) {
		t.Error("the issuer's certificate is not signed by a constrained intermediate")
	}
	// 127.0.0.1 is permitted; the chain verifies for it too.
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: pool(chain[1]), DNSName: "127.0.0.1"}); err != nil {
		t.Errorf("verify for 127.0.0.1: %v", err)
	}
}

// TestIssuerLeavesOutUnpermittedNames: a host name added after the CA was
// made is left out of the issuer's certificate, with a warning, as clients
// would refuse it.
func TestIssuerLeavesOutUnpermittedNames(t *testing.T) {
	dir := t.TempDir()
	first, err := issuer.New(t.Context(), issuer.Config{DataDir: dir, Zone: "lan.test", Listen: "127.0.0.1:0", Signer: "local", Hostnames: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	first.Close()
	var logs testwait.Buffer
	iss, roots := issuertest.Start(t, issuer.Config{DataDir: dir, Hostnames: []string{"localhost", "issuer.example.net"},
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if iss.NewRootKey() != "" {
		t.Errorf("NewRootKey = %q on a second start", iss.NewRootKey())
	}
	addr := strings.TrimPrefix(iss.Info().BaseURL, "https://")
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if names := conn.ConnectionState().PeerCertificates[0].DNSNames; strings.Join(names, " ") != "localhost" {
		t.Errorf("certificate names %q, want localhost only", names)
	}
	if !strings.Contains(logs.String(), "does not permit") || !strings.Contains(logs.String(), "issuer.example.net") {
		t.Errorf("no warning about issuer.example.net in the log:\n%s", logs.String())
	}
}

// TestLegacyDataDir: a data dir made before roots were constrained (root
// key in the CA directory) still starts, serves, and warns how to re-key.
func TestLegacyDataDir(t *testing.T) {
	dir := t.TempDir()
	writeLegacyCA(t, filepath.Join(dir, "ca"), "lan.test")
	var logs testwait.Buffer
	iss, roots := issuertest.Start(t, issuer.Config{DataDir: dir, Hostnames: []string{"localhost"},
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if iss.NewRootKey() != "" {
		t.Errorf("NewRootKey = %q for an existing CA", iss.NewRootKey())
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	resp, err := client.Get(iss.Info().BaseURL + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	resp.Body.Close()
	for _, want := range []string{"no name constraints", "lantls ca init", "lantls trust install"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log does not say %q:\n%s", want, logs.String())
		}
	}
}

// writeLegacyCA writes a CA directory as lantls made it before roots were
// name-constrained: root.key beside root.pem, an intermediate constrained
// to the zone.
func writeLegacyCA(t *testing.T, dir, zone string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	interKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	rootTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lantls local root " + zone, Organization: []string{"lantls"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true, SubjectKeyId: []byte{1, 2, 3},
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := x509.ParseCertificate(rootDER)
	interTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "lantls local intermediate " + zone, Organization: []string{"lantls"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(5, 0, 0),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true, SubjectKeyId: []byte{4, 5, 6},
		MaxPathLenZero: true, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		PermittedDNSDomainsCritical: true, PermittedDNSDomains: []string{zone},
		ExcludedIPRanges: []*net.IPNet{{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}, {IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}},
	}
	interDER, err := x509.CreateCertificate(rand.Reader, interTmpl, root, &interKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	for name, block := range map[string]*pem.Block{
		local.RootCertFile:         {Type: "CERTIFICATE", Bytes: rootDER},
		local.IntermediateCertFile: {Type: "CERTIFICATE", Bytes: interDER},
		local.RootKeyFile:          {Type: "PRIVATE KEY", Bytes: mustPKCS8(t, rootKey)},
		local.IntermediateKeyFile:  {Type: "PRIVATE KEY", Bytes: mustPKCS8(t, interKey)},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func mustPKCS8(t *testing.T, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func pemDER(t *testing.T, b []byte) []byte {
	t.Helper()
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatal("no PEM block")
	}
	return block.Bytes
}

func pool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// TestRotateIntermediateWithoutRestart: a running issuer takes the
// intermediate `lantls ca rotate-intermediate` makes, with no restart: new
// certificates, its own HTTPS certificate and /ca/intermediate.crt come
// from the new one, and a certificate from the old one is still its own
// for ARI (RFC 9773).
func TestRotateIntermediateWithoutRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	iss, roots := issuertest.Start(t, issuer.Config{DataDir: dir, Hostnames: []string{"localhost"}, CAReload: 50 * time.Millisecond})
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	before := issueLeaf(t, iss, client)

	rootKey, err := local.ReadRootKey(dir+"-root.key", nil)
	if err != nil {
		t.Fatal(err)
	}
	inter, err := local.RotateIntermediate(filepath.Join(dir, "ca"), rootKey, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(inter.SubjectKeyId, before.AuthorityKeyId) {
		t.Fatal("the rotation kept the key")
	}
	base := iss.Info().BaseURL
	testwait.For(t, 10*time.Second, "the issuer to serve the new intermediate", func() bool {
		_, body := get(t, client, base+"/ca/intermediate.crt")
		return bytes.Equal(body, inter.Raw)
	})
	if after := issueLeaf(t, iss, client); !bytes.Equal(after.AuthorityKeyId, inter.SubjectKeyId) {
		t.Error("a certificate issued after the rotation is not from the new intermediate")
	}
	testwait.For(t, 10*time.Second, "the issuer's own certificate to be from the new intermediate", func() bool {
		conn, err := tls.Dial("tcp", strings.TrimPrefix(base, "https://"), &tls.Config{RootCAs: roots, ServerName: "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		served := conn.ConnectionState().PeerCertificates
		conn.Close()
		return len(served) == 2 && served[1].Equal(inter)
	})

	// ARI still knows the certificate of the old intermediate.
	_, dirDoc := get(t, client, iss.Info().Directory)
	var d struct {
		RenewalInfo string `json:"renewalInfo"`
	}
	if err := json.Unmarshal(dirDoc, &d); err != nil || d.RenewalInfo == "" {
		t.Fatalf("directory: %v %s", err, dirDoc)
	}
	serial := before.SerialNumber.Bytes()
	if serial[0]&0x80 != 0 {
		serial = append([]byte{0}, serial...)
	}
	certID := base64.RawURLEncoding.EncodeToString(before.AuthorityKeyId) + "." + base64.RawURLEncoding.EncodeToString(serial)
	if resp, body := get(t, client, strings.TrimSuffix(d.RenewalInfo, "/")+"/"+certID); resp.StatusCode != http.StatusOK {
		t.Errorf("ARI for a certificate of the old intermediate: %s %s", resp.Status, body)
	}
}

// TestFirstStartKeepsExistingRootKey: a first start whose root key file
// exists (the key of another CA) refuses to overwrite it, naming the
// setting to change.
func TestFirstStartKeepsExistingRootKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	keyFile := dir + "-root.key"
	if err := os.WriteFile(keyFile, []byte("the key of another CA"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := issuer.New(t.Context(), issuer.Config{DataDir: dir, Zone: "lan.test", Listen: "127.0.0.1:0", Signer: "local"})
	var ce *issuer.ConfigError
	if !errors.As(err, &ce) || ce.Field != "RootKeyFile" || !strings.Contains(err.Error(), "a key is never overwritten") {
		t.Errorf("New = %v, want a RootKeyFile ConfigError", err)
	}
	if b, _ := os.ReadFile(keyFile); string(b) != "the key of another CA" {
		t.Error("the existing root key file was overwritten")
	}
}

// TestFirstStartEncryptsRootKey: with a passphrase, the root key the first
// start writes is encrypted.
func TestFirstStartEncryptsRootKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	iss, err := issuer.New(t.Context(), issuer.Config{DataDir: dir, Zone: "lan.test", Listen: "127.0.0.1:0", Signer: "local",
		RootKeyPassphrase: []byte("a passphrase")})
	if err != nil {
		t.Fatal(err)
	}
	iss.Close()
	b, err := os.ReadFile(dir + "-root.key")
	if err != nil || !local.IsEncrypted(b) {
		t.Fatalf("root key file not encrypted: %v", err)
	}
	if _, err := local.ReadRootKey(dir+"-root.key", []byte("a passphrase")); err != nil {
		t.Errorf("ReadRootKey: %v", err)
	}
}
