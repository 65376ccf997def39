package trust

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lantls/lantls/ca/local"
)

// newRoot makes a root in a temporary CA directory: constrained by
// local.Init, or without constraints.
func newRoot(t testing.TB, constrained bool) *x509.Certificate {
	t.Helper()
	if constrained {
		root, err := local.Init(filepath.Join(t.TempDir(), "ca"), local.InitOptions{Zone: "lan.test", Permit: []string{"localhost"}})
		if err != nil {
			t.Fatal(err)
		}
		return root
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "plain root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	root, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func TestInstallRefusesUnconstrained(t *testing.T) {
	// No store is selected: the refusal comes before any store is looked at.
	_, err := Install(t.Context(), newRoot(t, false), Options{})
	if !errors.Is(err, ErrUnconstrained) {
		t.Errorf("Install = %v, want ErrUnconstrained", err)
	}
	if _, err := Install(t.Context(), newRoot(t, true), Options{}); !errors.Is(err, ErrNoStore) {
		t.Errorf("Install with no store = %v, want ErrNoStore", err)
	}
}

func TestParseRoot(t *testing.T) {
	root := newRoot(t, true)
	for name, b := range map[string][]byte{"PEM": pemOf(root), "DER": root.Raw, "PEM with CRLF": bytes.ReplaceAll(pemOf(root), []byte("\n"), []byte("\r\n"))} {
		got, err := ParseRoot(b)
		if err != nil || !got.Equal(root) {
			t.Errorf("%s: ParseRoot = %v", name, err)
		}
	}
	for name, b := range map[string][]byte{
		"two certificates": append(pemOf(root), pemOf(root)...),
		"key":              []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
		"garbage":          []byte("hello"),
	} {
		if _, err := ParseRoot(b); err == nil {
			t.Errorf("%s: ParseRoot succeeded", name)
		}
	}
}

func TestParseFingerprint(t *testing.T) {
	root := newRoot(t, true)
	sum := sha256.Sum256(root.Raw)
	for _, s := range []string{
		hex.EncodeToString(sum[:]),
		strings.ToUpper(hex.EncodeToString(sum[:])),
		local.Describe(root).Fingerprint,
		"SHA256:" + local.Describe(root).Fingerprint,
		" " + strings.ReplaceAll(local.Describe(root).Fingerprint, ":", " ") + "\n",
	} {
		b, err := ParseFingerprint(s)
		if err != nil || !MatchFingerprint(root, b) {
			t.Errorf("ParseFingerprint(%q) = %x, %v", s, b, err)
		}
	}
	for _, s := range []string{"", "abc", hex.EncodeToString(sum[:31]), hex.EncodeToString(sum[:]) + "00", "zz" + hex.EncodeToString(sum[1:])} {
		if _, err := ParseFingerprint(s); err == nil {
			t.Errorf("ParseFingerprint(%q) succeeded", s)
		}
	}
}

func TestCheckRoot(t *testing.T) {
	if err := CheckRoot(newRoot(t, true)); err != nil {
		t.Errorf("CheckRoot of a root: %v", err)
	}
	leaf := newRoot(t, false)
	leaf.IsCA = false
	if err := CheckRoot(leaf); err == nil {
		t.Error("CheckRoot accepted a certificate that is no CA")
	}
}

func TestFetch(t *testing.T) {
	root := newRoot(t, true)
	sum := sha256.Sum256(root.Raw)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ca/root.crt", func(w http.ResponseWriter, r *http.Request) { w.Write(root.Raw) })
	mux.HandleFunc("GET /ca/root.pem", func(w http.ResponseWriter, r *http.Request) { w.Write(pemOf(root)) })
	mux.HandleFunc("GET /big", func(w http.ResponseWriter, r *http.Request) { w.Write(make([]byte, maxRootSize+10)) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	for _, u := range []string{srv.URL, srv.URL + "/", srv.URL + "/ca/root.pem"} {
		got, err := Fetch(t.Context(), u, sum[:])
		if err != nil || !got.Equal(root) {
			t.Errorf("Fetch(%s) = %v", u, err)
		}
	}
	other := sha256.Sum256([]byte("x"))
	if _, err := Fetch(t.Context(), srv.URL, other[:]); err == nil || !strings.Contains(err.Error(), "do not trust it") {
		t.Errorf("Fetch with another fingerprint = %v", err)
	}
	for _, u := range []string{srv.URL + "/big", srv.URL + "/missing", "ftp://x/", "hub.lan:8080"} {
		if _, err := Fetch(t.Context(), u, sum[:]); err == nil {
			t.Errorf("Fetch(%s) succeeded", u)
		}
	}
}

func FuzzParseRoot(f *testing.F) {
	root := newRoot(f, true)
	f.Add(root.Raw)
	f.Add(pemOf(root))
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := ParseRoot(b); err == nil {
			CheckRoot(c)
			local.Describe(c)
		}
	})
}

func FuzzParseFingerprint(f *testing.F) {
	f.Add("AB:CD")
	f.Add(strings.Repeat("ab", 32))
	f.Fuzz(func(t *testing.T, s string) {
		if b, err := ParseFingerprint(s); err == nil && len(b) != sha256.Size {
			t.Errorf("ParseFingerprint(%q) = %d bytes", s, len(b))
		}
	})
}

func TestMobileConfig(t *testing.T) {
	root := newRoot(t, true)
	a, b := MobileConfig(root), MobileConfig(root)
	if !bytes.Equal(a, b) {
		t.Error("two profiles for one root differ: the device would add a second instead of replacing it")
	}
	if bytes.Equal(a, MobileConfig(newRoot(t, true))) {
		t.Error("two roots give one profile")
	}
	if !bytes.Contains(a, []byte("permits: DNS:lan.test, DNS:localhost")) {
		t.Errorf("profile does not say what the root permits:\n%s", a)
	}
	if !bytes.Contains(MobileConfig(newRoot(t, false)), []byte("no name constraints")) {
		t.Error("the profile of an unconstrained root does not warn")
	}
	u := uuidFrom([]byte{1}, "x")
	if len(u) != 36 || u[14] != '8' || !strings.ContainsAny(u[19:20], "89AB") {
		t.Errorf("uuid %s is not a version 8 UUID", u)
	}
}
