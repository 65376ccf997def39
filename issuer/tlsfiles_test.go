package issuer_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lantls/lantls/internal/testwait"
	"github.com/lantls/lantls/issuer"
	"github.com/lantls/lantls/issuer/issuertest"
)

// writePair writes a self-signed certificate for name and its key.
func writePair(t *testing.T, certPath, keyPath, name string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// The key first: a reload that catches the new key with the old
	// certificate must keep the old pair.
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

// servedCert is the certificate the issuer serves for name.
func servedCert(t *testing.T, addr, name string) *x509.Certificate {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: name, InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

func TestOperatorCertificateReloads(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first := writePair(t, certPath, keyPath, "issuer.example.net")
	var logs testwait.Buffer
	iss, _ := issuertest.Start(t, issuer.Config{TLSCert: certPath, TLSKey: keyPath, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	addr := strings.TrimPrefix(iss.Info().BaseURL, "https://")
	if got := servedCert(t, addr, "issuer.example.net"); !got.Equal(first) {
		t.Fatalf("served %v, want the operator's certificate", got.Subject)
	}
	// A renewal replaces the files: the issuer serves the new pair within
	// a few seconds, without a restart.
	if st, err := os.Stat(certPath); err == nil { // the new files get a new modification time
		testwait.For(t, time.Second, "the clock to pass the files' time", func() bool { return time.Now().After(st.ModTime()) })
	}
	second := writePair(t, certPath, keyPath, "issuer.example.net")
	testwait.For(t, 30*time.Second, "the renewed certificate to be served", func() bool {
		return servedCert(t, addr, "issuer.example.net").Equal(second)
	})
	// Files that do not load keep the previous pair.
	if err := os.WriteFile(certPath, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !testwait.Until(30*time.Second, func() bool { return strings.Contains(logs.String(), "do not load") }) {
		t.Fatalf("the issuer did not notice the broken files within 30s; its log:\n%s", logs.String())
	}
	if got := servedCert(t, addr, "issuer.example.net"); !got.Equal(second) {
		t.Error("a broken certificate file replaced the working certificate")
	}
}

func TestOperatorCertificateNeedsBothFiles(t *testing.T) {
	_, err := issuer.New(t.Context(), issuer.Config{DataDir: t.TempDir(), Zone: "lan.test", Listen: "127.0.0.1:0", Signer: "local", TLSCert: "x.pem"})
	if err == nil || !strings.Contains(err.Error(), "key") {
		t.Errorf("New with a certificate and no key: %v", err)
	}
}
