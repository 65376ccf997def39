package local

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lantls/lantls/ca"
	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/problem"
)

// leafRequest asks for the names of device testLabel with key.
func leafRequest(t testing.TB, key crypto.Signer) ca.Request {
	t.Helper()
	certNames := names.CertNames(testLabel, testZone)
	return ca.Request{
		CSR:     newCSR(t, key, certNames...),
		Names:   certNames,
		Profile: ca.Profiles[ca.DefaultProfile],
	}
}

// parseLeaf parses the leaf of issued and checks that the fields Issued
// carries beside it are the leaf's.
func parseLeaf(t testing.TB, issued *ca.Issued) *x509.Certificate {
	t.Helper()
	leaf, err := x509.ParseCertificate(issued.DER)
	if err != nil {
		t.Fatalf("parse leaf: %v", err)
	}
	if issued.Serial.Cmp(leaf.SerialNumber) != 0 || !issued.NotBefore.Equal(leaf.NotBefore) || !issued.NotAfter.Equal(leaf.NotAfter) {
		t.Errorf("Issued says serial %x, %v to %v; the leaf says %x, %v to %v", issued.Serial, issued.NotBefore, issued.NotAfter,
			leaf.SerialNumber, leaf.NotBefore, leaf.NotAfter)
	}
	return leaf
}

func verifyOpts(c *CA, dnsName string) x509.VerifyOptions {
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(c.Root())
	inters.AddCert(c.Intermediate())
	return x509.VerifyOptions{
		DNSName:       dnsName,
		Roots:         roots,
		Intermediates: inters,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		CurrentTime:   testNow,
	}
}

func TestSignVerifies(t *testing.T) {
	c, _ := openCA(t)
	issued, err := c.Sign(t.Context(), leafRequest(t, p256Key(t)))
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	leaf := parseLeaf(t, issued)
	device := testLabel + "." + testZone
	tests := []struct {
		host string
		ok   bool
	}{
		{device, true},
		{"192-168-1-20." + device, true},
		{"fd00-0-0-0-0-0-0-1." + device, true},
		{"anything." + device, true},
		{"example.com", false},
		{"evil.example.com", false},
		{device + ".example.com", false},
		{"a.b." + device, false}, // a wildcard covers one label
		{testZone, false},
		{"other." + testZone, false},
		{"192.168.1.20", false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			_, err := leaf.Verify(verifyOpts(c, tt.host))
			if tt.ok && err != nil {
				t.Errorf("Verify: %v", err)
			}
			if !tt.ok && err == nil {
				t.Error("Verify succeeded, want an error")
			}
		})
	}
	t.Run("root only, no intermediate", func(t *testing.T) {
		opts := verifyOpts(c, device)
		opts.Intermediates = nil
		if _, err := leaf.Verify(opts); err == nil {
			t.Error("leaf verified without its intermediate")
		}
	})
	t.Run("client auth", func(t *testing.T) {
		opts := verifyOpts(c, device)
		opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		if _, err := leaf.Verify(opts); err == nil {
			t.Error("leaf verified for client auth")
		}
	})
}

func TestSignLeafFields(t *testing.T) {
	c, _ := openCA(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		key      crypto.Signer
		usage    x509.KeyUsage
		lifetime time.Duration
	}{
		{"P-256", p256Key(t), x509.KeyUsageDigitalSignature, ca.Profiles["default"].Lifetime},
		{"P-384", p384, x509.KeyUsageDigitalSignature, ca.Profiles["shortlived"].Lifetime},
		{"RSA-2048", rsaKey, x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ca.MaxLifetime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := leafRequest(t, tt.key)
			req.Profile.Lifetime = tt.lifetime
			issued, err := c.Sign(t.Context(), req)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			leaf := parseLeaf(t, issued)
			if len(leaf.RawSubject) != 2 || len(leaf.Subject.Names) != 0 {
				t.Errorf("subject = %v, want empty", leaf.Subject)
			}
			if !slices.Equal(leaf.DNSNames, req.Names) {
				t.Errorf("DNS names = %q, want %q", leaf.DNSNames, req.Names)
			}
			if len(leaf.IPAddresses)+len(leaf.EmailAddresses)+len(leaf.URIs) != 0 {
				t.Error("leaf has SANs other than DNS names")
			}
			if !extensionCritical(leaf, asn1.ObjectIdentifier{2, 5, 29, 17}) {
				t.Error("subjectAltName is not critical")
			}
			if leaf.KeyUsage != tt.usage {
				t.Errorf("key usage = %b, want %b", leaf.KeyUsage, tt.usage)
			}
			if len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth || len(leaf.UnknownExtKeyUsage) != 0 {
				t.Errorf("EKU = %v %v, want serverAuth only", leaf.ExtKeyUsage, leaf.UnknownExtKeyUsage)
			}
			if !leaf.BasicConstraintsValid || leaf.IsCA {
				t.Error("basic constraints are not CA:false")
			}
			if len(leaf.SubjectKeyId) != 20 {
				t.Errorf("subject key identifier has %d bytes, want 20", len(leaf.SubjectKeyId))
			}
			if !bytes.Equal(leaf.AuthorityKeyId, c.Intermediate().SubjectKeyId) {
				t.Error("authority key identifier is not the intermediate's")
			}
			if leaf.SerialNumber.Sign() <= 0 || leaf.SerialNumber.BitLen() > 127 {
				t.Errorf("serial %x is not a positive 127-bit number", leaf.SerialNumber)
			}
			if want := testNow.Add(-time.Minute); !leaf.NotBefore.Equal(want) {
				t.Errorf("NotBefore = %v, want %v", leaf.NotBefore, want)
			}
			if got := leaf.NotAfter.Sub(leaf.NotBefore); got != tt.lifetime {
				t.Errorf("lifetime = %v, want %v", got, tt.lifetime)
			}
			if want := []string{testBaseURL + "/ca/crl"}; !slices.Equal(leaf.CRLDistributionPoints, want) {
				t.Errorf("CRL distribution points = %q, want %q", leaf.CRLDistributionPoints, want)
			}
			if want := []string{testBaseURL + "/ca/intermediate.crt"}; !slices.Equal(leaf.IssuingCertificateURL, want) {
				t.Errorf("caIssuers = %q, want %q", leaf.IssuingCertificateURL, want)
			}
			if len(leaf.OCSPServer) != 0 {
				t.Errorf("OCSP = %q, want none", leaf.OCSPServer)
			}
			if !publicKeyEqual(leaf.PublicKey, tt.key.Public()) {
				t.Error("leaf key is not the CSR's key")
			}
			chain := pemBlocks(t, issued.ChainPEM)
			if len(chain) != 2 || !bytes.Equal(chain[0], leaf.Raw) || !bytes.Equal(chain[1], c.Intermediate().Raw) {
				t.Errorf("ChainPEM has %d certificates, want leaf then intermediate", len(chain))
			}
			if _, err := leaf.Verify(verifyOpts(c, "192-168-1-20."+testLabel+"."+testZone)); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
}

func TestSignDeduplicatesNames(t *testing.T) {
	c, _ := openCA(t)
	req := leafRequest(t, p256Key(t))
	req.Names = append(req.Names, req.Names...)
	issued, err := c.Sign(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if leaf := parseLeaf(t, issued); len(leaf.DNSNames) != 2 {
		t.Errorf("DNS names = %q, want 2", leaf.DNSNames)
	}
}

func TestSignRejects(t *testing.T) {
	c, _ := openCA(t)
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p521, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	device := testLabel + "." + testZone
	tests := []struct {
		name   string
		ctx    context.Context
		modify func(*ca.Request)
		kind   problem.Kind // "" means any error
	}{
		{"no names", nil, func(r *ca.Request) { r.Names = nil }, problem.BadCSR},
		{"outside zone", nil, func(r *ca.Request) { r.Names = []string{"example.com"} }, problem.RejectedIdentifier},
		{"one name outside zone", nil, func(r *ca.Request) { r.Names = append(r.Names, "evil.example.com") }, problem.RejectedIdentifier},
		{"zone as suffix", nil, func(r *ca.Request) { r.Names = []string{"evil" + testZone} }, problem.RejectedIdentifier},
		{"zone inside name", nil, func(r *ca.Request) { r.Names = []string{device + ".example.com"} }, problem.RejectedIdentifier},
		{"wildcard outside zone", nil, func(r *ca.Request) { r.Names = []string{"*.test"} }, problem.RejectedIdentifier},
		{"not normalized", nil, func(r *ca.Request) { r.Names = []string{strings.ToUpper(device)} }, problem.RejectedIdentifier},
		{"trailing dot", nil, func(r *ca.Request) { r.Names = []string{device + "."} }, problem.RejectedIdentifier},
		{"IP address", nil, func(r *ca.Request) { r.Names = []string{"192.168.1.20"} }, problem.RejectedIdentifier},
		{"empty name", nil, func(r *ca.Request) { r.Names = []string{""} }, problem.RejectedIdentifier},
		{"no CSR", nil, func(r *ca.Request) { r.CSR = nil }, problem.BadCSR},
		{"P-224 key", nil, func(r *ca.Request) { r.CSR.PublicKey = &p224.PublicKey }, problem.BadCSR},
		{"P-521 key", nil, func(r *ca.Request) { r.CSR.PublicKey = &p521.PublicKey }, problem.BadCSR},
		{"Ed25519 key", nil, func(r *ca.Request) { r.CSR.PublicKey = edKey.Public() }, problem.BadCSR},
		{"RSA-1024 key", nil, func(r *ca.Request) { r.CSR.PublicKey = &rsa1024.PublicKey }, problem.BadCSR},
		{"zero lifetime", nil, func(r *ca.Request) { r.Profile.Lifetime = 0 }, ""},
		{"negative lifetime", nil, func(r *ca.Request) { r.Profile.Lifetime = -time.Hour }, ""},
		{"lifetime above maximum", nil, func(r *ca.Request) { r.Profile.Lifetime = ca.MaxLifetime + time.Second }, ""},
		{"canceled context", canceled, func(r *ca.Request) {}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := leafRequest(t, p256Key(t))
			tt.modify(&req)
			ctx := tt.ctx
			if ctx == nil {
				ctx = t.Context()
			}
			issued, err := c.Sign(ctx, req)
			if err == nil {
				t.Fatalf("Sign succeeded, serial %x", issued.Serial)
			}
			if tt.kind != "" && !problem.Is(err, tt.kind) {
				t.Errorf("error %v is not a %s problem", err, tt.kind)
			}
			if !strings.HasPrefix(err.Error(), "sign: ") {
				t.Errorf("error %q lacks the sign: prefix", err)
			}
		})
	}
	_, err = c.Sign(canceled, leafRequest(t, p256Key(t)))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Sign with canceled context = %v, want context.Canceled", err)
	}
}

// TestNameConstraintsHold signs leaves with the intermediate's key directly,
// bypassing Sign's checks, as a thief of that key would: clients must reject
// every name and IP address that the root does not permit.
func TestNameConstraintsHold(t *testing.T) {
	c, _ := openCA(t)
	tests := []struct {
		name    string
		dns     []string
		ips     []net.IP
		host    string
		allowed bool
	}{
		{"control: name in zone", []string{"x.lan.test"}, nil, "x.lan.test", true},
		{"zone apex", []string{"lan.test"}, nil, "lan.test", true},
		{"evil.example.com", []string{"evil.example.com"}, nil, "evil.example.com", false},
		{"example.com", []string{"example.com"}, nil, "example.com", false},
		{"zone as suffix of label", []string{"evillan.test"}, nil, "evillan.test", false},
		{"in zone plus outside", []string{"x.lan.test", "evil.example.com"}, nil, "x.lan.test", false},
		{"permitted name", []string{"localhost"}, nil, "localhost", true},
		{"below a permitted name", []string{"x.hub.example.net"}, nil, "x.hub.example.net", true},
		{"permitted IPv4", nil, []net.IP{net.ParseIP("127.0.0.1").To4()}, "127.0.0.1", true},
		{"permitted IPv6", nil, []net.IP{net.IPv6loopback}, "::1", true},
		{"IPv4", nil, []net.IP{net.ParseIP("192.168.1.20").To4()}, "192.168.1.20", false},
		{"IPv4 next to permitted", nil, []net.IP{net.ParseIP("127.0.0.2").To4()}, "127.0.0.2", false},
		{"IPv6", nil, []net.IP{net.ParseIP("fd00::1")}, "fd00::1", false},
		{"name in zone plus IP", []string{"x.lan.test"}, []net.IP{net.ParseIP("10.0.0.1").To4()}, "x.lan.test", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := p256Key(t)
			serial, err := randomSerial()
			if err != nil {
				t.Fatal(err)
			}
			tmpl := &x509.Certificate{
				SerialNumber:          serial,
				NotBefore:             testNow.Add(-time.Hour),
				NotAfter:              testNow.Add(time.Hour),
				DNSNames:              tt.dns,
				IPAddresses:           tt.ips,
				KeyUsage:              x509.KeyUsageDigitalSignature,
				ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
				BasicConstraintsValid: true,
			}
			forged, err := createCertificate(tmpl, c.Intermediate(), &key.PublicKey, c.current().key)
			if err != nil {
				t.Fatalf("forge: %v", err)
			}
			_, err = forged.Verify(verifyOpts(c, tt.host))
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

func TestSignLifetimeEndsWithIntermediate(t *testing.T) {
	_, dir := openCA(t)
	interEnd := func() time.Time {
		c, err := Open(dir, Options{Zone: testZone})
		if err != nil {
			t.Fatal(err)
		}
		return c.Intermediate().NotAfter
	}()
	tests := []struct {
		name    string
		now     time.Time
		want    time.Time // zero means an error
		wantErr bool
	}{
		{"well before", interEnd.AddDate(-1, 0, 0), interEnd.AddDate(-1, 0, 0).Add(-time.Minute + 47*24*time.Hour), false},
		{"10 days before", interEnd.Add(-10 * 24 * time.Hour), interEnd, false},
		{"after", interEnd.Add(time.Hour), time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Open(dir, Options{Zone: testZone, Now: func() time.Time { return tt.now }})
			if err != nil {
				t.Fatal(err)
			}
			issued, err := c.Sign(t.Context(), leafRequest(t, p256Key(t)))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Sign succeeded, NotAfter %v", issued.NotAfter)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if leaf := parseLeaf(t, issued); !leaf.NotAfter.Equal(tt.want) {
				t.Errorf("NotAfter = %v, want %v", leaf.NotAfter, tt.want)
			}
		})
	}
}

func TestSignWithoutBaseURL(t *testing.T) {
	c, err := Open(filepath.Join(t.TempDir(), "ca"), Options{Zone: testZone})
	if err != nil {
		t.Fatal(err)
	}
	issued, err := c.Sign(t.Context(), leafRequest(t, p256Key(t)))
	if err != nil {
		t.Fatal(err)
	}
	if leaf := parseLeaf(t, issued); len(leaf.CRLDistributionPoints)+len(leaf.IssuingCertificateURL) != 0 {
		t.Errorf("leaf has URLs %q %q without a base URL", leaf.CRLDistributionPoints, leaf.IssuingCertificateURL)
	}
}

func TestSignConcurrent(t *testing.T) {
	c, _ := openCA(t)
	const n = 64
	reqs := make([]ca.Request, n)
	for i := range reqs {
		reqs[i] = leafRequest(t, p256Key(t))
	}
	serials := make([]*big.Int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			issued, err := c.Sign(context.Background(), reqs[i])
			if err != nil {
				t.Error(err)
				return
			}
			serials[i] = issued.Serial
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, s := range serials {
		if s == nil {
			continue
		}
		if seen[s.String()] {
			t.Fatalf("serial %x issued twice", s)
		}
		seen[s.String()] = true
	}
}

func TestServerCertificate(t *testing.T) {
	c, _ := openCA(t)
	cert, err := c.ServerCertificate([]string{"localhost", "127.0.0.1", "LocalHost.", "::1", "hub.example.net"})
	if err != nil {
		t.Fatalf("ServerCertificate: %v", err)
	}
	leaf := cert.Leaf
	if !slices.Equal(leaf.DNSNames, []string{"localhost", "hub.example.net"}) {
		t.Errorf("DNS names = %q", leaf.DNSNames)
	}
	if len(leaf.IPAddresses) != 2 || !leaf.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) || !leaf.IPAddresses[1].Equal(net.IPv6loopback) {
		t.Errorf("IP addresses = %v", leaf.IPAddresses)
	}
	if !bytes.Equal(leaf.RawIssuer, c.Intermediate().RawSubject) || !bytes.Equal(leaf.AuthorityKeyId, c.Intermediate().SubjectKeyId) {
		t.Error("not issued by the intermediate")
	}
	if len(cert.Certificate) != 2 || !bytes.Equal(cert.Certificate[1], c.Intermediate().Raw) {
		t.Error("chain is not leaf then intermediate")
	}
	if got := leaf.NotAfter.Sub(leaf.NotBefore); got != 90*24*time.Hour {
		t.Errorf("lifetime = %v, want 90 days", got)
	}
	if leaf.IsCA || len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Error("not a serverAuth leaf")
	}
	for _, host := range []string{"localhost", "127.0.0.1", "::1", "hub.example.net"} {
		if _, err := leaf.Verify(verifyOpts(c, host)); err != nil {
			t.Errorf("Verify %s: %v", host, err)
		}
	}
	if _, err := leaf.Verify(verifyOpts(c, "example.com")); err == nil {
		t.Error("verified for example.com")
	}
}

// TestServerCertificateHandshake serves HTTPS with the issuer certificate
// on 127.0.0.1 and connects with a client that trusts only the root.
func TestServerCertificateHandshake(t *testing.T) {
	c, _ := openCA(t)
	cert, err := c.ServerCertificate([]string{"localhost", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(c.RootPEM()) {
		t.Fatal("RootPEM has no certificate")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	t.Cleanup(client.CloseIdleConnections)
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatalf("GET %s: %v", srv.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "ok" {
		t.Errorf("body = %q", body)
	}
}

func TestServerCertificateHosts(t *testing.T) {
	c, _ := openCA(t)
	tests := []struct {
		name  string
		hosts []string
		ok    bool
	}{
		{"none gives loopback", nil, true},
		{"bracketed IPv6", []string{"[::1]"}, true},
		{"mapped IPv4", []string{"::ffff:127.0.0.1"}, true},
		{"wildcard", []string{"*.hub.example.net"}, true},
		{"bare wildcard", []string{"*"}, false},
		{"space", []string{"a b"}, false},
		{"underscore", []string{"a_b"}, false},
		{"empty", []string{""}, false},
		{"zone", []string{"fe80::1%eth0"}, false},
		{"URL", []string{"https://localhost"}, false},
		{"name the root does not permit", []string{"localhost", "example.com"}, false},
		{"address the root does not permit", []string{"192.168.1.1"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert, err := c.ServerCertificate(tt.hosts)
			if !tt.ok {
				if err == nil {
					t.Errorf("ServerCertificate(%q) succeeded", tt.hosts)
				}
				return
			}
			if err != nil {
				t.Fatalf("ServerCertificate(%q): %v", tt.hosts, err)
			}
			if len(cert.Leaf.DNSNames)+len(cert.Leaf.IPAddresses) == 0 {
				t.Error("certificate names nothing")
			}
		})
	}
	cert, err := c.ServerCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cert.Leaf.DNSNames, []string{"localhost"}) || len(cert.Leaf.IPAddresses) != 2 {
		t.Errorf("default names = %q %v, want localhost, 127.0.0.1, ::1", cert.Leaf.DNSNames, cert.Leaf.IPAddresses)
	}
	cert, err = c.ServerCertificate([]string{"::ffff:127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if ip := cert.Leaf.IPAddresses[0]; len(ip) != net.IPv4len {
		t.Errorf("mapped address encoded in %d bytes, want 4", len(ip))
	}
}

// BenchmarkSign measures one leaf signature (P-256 intermediate, P-256
// device key) from many goroutines at once.
func BenchmarkSign(b *testing.B) {
	c, _ := openCA(b)
	req := leafRequest(b, p256Key(b))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Sign(context.Background(), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkSignEncoder measures one Sign (P-256 intermediate, P-256
// device key) with the leaf encoded by leafTBS and with
// x509.CreateCertificate, which verifies the signature it made: the
// numbers issue 32 asked for to decide whether leaf.go stays.
func BenchmarkSignEncoder(b *testing.B) {
	for _, encoder := range []string{"cryptobyte", "crypto/x509"} {
		b.Run(encoder, func(b *testing.B) {
			c, _ := openCA(b)
			if encoder == "crypto/x509" {
				s := *c.current()
				s.parts = nil
				c.cur.Store(&s)
			}
			req := leafRequest(b, p256Key(b))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Sign(b.Context(), req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func extensionCritical(cert *x509.Certificate, oid asn1.ObjectIdentifier) bool {
	for _, e := range cert.Extensions {
		if e.Id.Equal(oid) {
			return e.Critical
		}
	}
	return false
}

func publicKeyEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

func pemBlocks(t *testing.T, data []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			t.Errorf("PEM block of type %s", block.Type)
		}
		out = append(out, block.Bytes)
	}
	if len(bytes.TrimSpace(data)) != 0 {
		t.Error("data after the last PEM block")
	}
	return out
}
