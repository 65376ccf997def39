// Package testkeys holds fixed private keys of every kind the key policy is
// tested with, so that tests need not generate an RSA-8192 key (seconds of
// CPU each time). They are published test keys: never use them for
// anything else.
package testkeys

import (
	"crypto"
	"crypto/x509"
	"embed"
	"encoding/pem"
	"fmt"
	"sync"

	"github.com/lantls/lantls/problem"
)

//go:embed testdata/*.pem
var files embed.FS

// Key is one test key, the name tests print for it, and what the default
// key policy (keypolicy.Default) answers for it: the problem an account key
// and a certificate key of its kind get, "" where they are accepted. The
// key policy's own tests, the ACME front end's and the signer's all run
// this one table.
type Key struct {
	Name            string
	Signer          crypto.Signer
	WantAccount     problem.Kind
	WantCertificate problem.Kind
}

// table is the file and the expected answers of each key, in the order All
// returns them.
var table = []struct {
	name, file           string
	account, certificate problem.Kind
}{
	{"RSA 1024", "rsa1024.pem", problem.BadPublicKey, problem.BadCSR},
	{"RSA 2048", "rsa2048.pem", "", ""},
	{"RSA 4096", "rsa4096.pem", "", ""},
	{"RSA 8192", "rsa8192.pem", problem.BadPublicKey, problem.BadCSR},
	{"P-256", "ec-P256.pem", "", ""},
	{"P-384", "ec-P384.pem", "", ""},
	{"P-521", "ec-P521.pem", problem.BadPublicKey, problem.BadCSR},
	// Browsers accept no Ed25519 certificate; Ed25519 account keys are
	// fine (JWS alg EdDSA, RFC 8037).
	{"Ed25519", "ed25519.pem", "", problem.BadCSR},
}

// All returns RSA 1024, 2048, 4096 and 8192, ECDSA P-256, P-384 and P-521,
// and Ed25519 keys, in that order. The keys are shared: do not change them.
var All = sync.OnceValue(func() []Key {
	keys := make([]Key, 0, len(table))
	for _, k := range table {
		keys = append(keys, Key{Name: k.name, Signer: load(k.file), WantAccount: k.account, WantCertificate: k.certificate})
	}
	return keys
})

// Get returns the key named name, e.g. "RSA 2048", and panics if there is
// none.
func Get(name string) crypto.Signer {
	for _, k := range All() {
		if k.Name == name {
			return k.Signer
		}
	}
	panic(fmt.Sprintf("testkeys: no key named %q", name))
}

func load(file string) crypto.Signer {
	b, err := files.ReadFile("testdata/" + file)
	if err != nil {
		panic(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		panic("testkeys: " + file + " holds no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		panic(fmt.Sprintf("testkeys: %s: %v", file, err))
	}
	return k.(crypto.Signer)
}
