package main

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStepCA(t *testing.T) {
	dir := t.TempDir()
	if err := stepCA([]string{"--dir", dir, "--listen", "127.0.0.1:9443"}); err != nil {
		t.Fatal(err)
	}
	cert := func(name string) *x509.Certificate {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(b)
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	root, inter := cert("root_ca.crt"), cert("intermediate_ca.crt")
	roots := x509.NewCertPool()
	roots.AddCert(root)
	if _, err := inter.Verify(x509.VerifyOptions{Roots: roots}); err != nil {
		t.Errorf("intermediate does not verify to the root: %v", err)
	}
	if !inter.IsCA || !inter.MaxPathLenZero {
		t.Errorf("intermediate IsCA %v, MaxPathLenZero %v", inter.IsCA, inter.MaxPathLenZero)
	}
	var cfg struct {
		Address   string
		Authority struct{ Provisioners []struct{ Type, Name string } }
		DB        struct{ Type string }
	}
	b, _ := os.ReadFile(filepath.Join(dir, "ca.json"))
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Address != "127.0.0.1:9443" || len(cfg.Authority.Provisioners) != 1 || cfg.Authority.Provisioners[0].Type != "ACME" || cfg.DB.Type != "badgerv2" {
		t.Errorf("ca.json = %s", b)
	}
}

func TestPebble(t *testing.T) {
	dir := t.TempDir()
	if err := pebble([]string{"--dir", dir, "--certs", "/certs", "--eab", "3"}); err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Pebble struct {
			ExternalAccountBindingRequired bool
			ExternalAccountMACKeys         map[string]string
			RetryAfter                     struct{ Authz, Order int }
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "pebble.json"))
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	p := cfg.Pebble
	if !p.ExternalAccountBindingRequired || len(p.ExternalAccountMACKeys) != 3 || p.RetryAfter.Authz != 0 || p.RetryAfter.Order != 0 {
		t.Errorf("pebble.json = %s", b)
	}
	lines, _ := os.ReadFile(filepath.Join(dir, "eab.txt"))
	for _, l := range strings.Split(strings.TrimSpace(string(lines)), "\n") {
		f := strings.Fields(l)
		if len(f) != 2 || p.ExternalAccountMACKeys[f[0]] != f[1] {
			t.Errorf("eab.txt line %q does not match the config", l)
		}
	}
}
