// Package floor measures, on the machine at hand, the CPU time of the
// cryptography that one issuance cannot avoid on the server: each JWS
// signature the client sends (ES256), the EAB MAC, the CSR's signature,
// the leaf's signature (no precertificate, no SCTs), and the server's half
// of every TLS handshake the client forces. Everything else an issuer
// spends (HTTP, JSON, TLS records, the store, the encoding of the leaf) is
// overhead over this floor; bench/issue.sh prints the ratio.
package floor

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/mlkem"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"
)

// measureFor is how much CPU time each operation is run for.
const measureFor = 300 * time.Millisecond

// cpuPerOp returns the CPU time of one call of run, in nanoseconds: the
// calls run on one locked OS thread, whose own CPU time is read before
// and after (threadCPU), in rounds that grow until one takes measureFor.
func cpuPerOp(run func() error) float64 {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for n := 1; ; n *= 4 {
		start := threadCPU()
		for range n {
			run()
		}
		if d := threadCPU() - start; d >= measureFor || n >= 1<<24 {
			return float64(d.Nanoseconds()) / float64(n)
		}
	}
}

// Counts says how many of each operation one issuance makes the server do.
type Counts struct {
	// JWS is the number of signed requests: newAccount, newOrder, one
	// POST-as-GET per authorization, finalize and the certificate
	// download make 6 for a device with two names.
	JWS int
	// EAB is the number of external account bindings verified (1).
	EAB int
	// CSR and Leaf are the CSR signatures checked and leaves signed (1).
	CSR, Leaf int
	// Handshakes is the number of full TLS handshakes per issuance: 1
	// for a client that connects afresh, near 0 for one that keeps its
	// connections alive across devices (measured by bench/issue.sh).
	Handshakes float64
}

// Issuance is what one device's first certificate costs the server with
// the load client of package bench: two names, authorizations valid at
// once, one fresh connection.
var Issuance = Counts{JWS: 6, EAB: 1, CSR: 1, Leaf: 1, Handshakes: 1}

// Op is one measured operation.
type Op struct {
	Name    string  `json:"name"`
	NsPerOp float64 `json:"ns_per_op"`
	Count   float64 `json:"per_issuance"`
}

// Result is the floor: each operation's cost and count, and their sum.
type Result struct {
	Ops     []Op    `json:"ops"`
	FloorNs float64 `json:"floor_ns"`
}

// Measure times each operation in CPU time and weighs it by c. CPU time,
// not wall time: on a machine that is busy with other work (or with the
// issuer being measured) a wall clock would count the time the benchmark
// waited for a core, and make the floor look higher than it is.
func Measure(c Counts) (*Result, error) {
	f, err := newFixture()
	if err != nil {
		return nil, err
	}
	ops := []struct {
		name  string
		count float64
		run   func() error
	}{
		{"JWS signature check (ES256: SHA-256, ECDSA P-256 verify)", float64(c.JWS), f.verifyJWS},
		{"EAB MAC (HMAC-SHA256)", float64(c.EAB), f.macEAB},
		{"CSR signature check (ECDSA P-256 verify)", float64(c.CSR), f.checkCSR},
		{"leaf signature (SHA-256, ECDSA P-256 sign)", float64(c.Leaf), f.signLeaf},
		{"TLS 1.3 handshake, server side (X25519MLKEM768, ECDSA P-256 CertificateVerify)", c.Handshakes, f.handshake},
	}
	res := &Result{}
	for _, op := range ops {
		if err := op.run(); err != nil {
			return nil, fmt.Errorf("floor: %s: %w", op.name, err)
		}
		ns := cpuPerOp(op.run)
		res.Ops = append(res.Ops, Op{Name: op.name, NsPerOp: ns, Count: op.count})
		res.FloorNs += ns * op.count
	}
	return res, nil
}

// String prints the floor as a table in Markdown.
func (r *Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "| operation | µs each | per issuance | µs per issuance |\n| --- | ---: | ---: | ---: |\n")
	for _, op := range r.Ops {
		fmt.Fprintf(&b, "| %s | %.1f | %g | %.1f |\n", op.Name, op.NsPerOp/1e3, op.Count, op.NsPerOp*op.Count/1e3)
	}
	fmt.Fprintf(&b, "| **floor** | | | **%.1f** |\n", r.FloorNs/1e3)
	return b.String()
}

// fixture holds the keys and messages the operations use, made once.
type fixture struct {
	accountKey *ecdsa.PrivateKey
	signingIn  []byte // a JWS signing input of a typical size
	jwsSig     []byte
	eabKey     []byte
	eabInput   []byte
	csr        *x509.CertificateRequest
	caKey      *ecdsa.PrivateKey
	tbs        []byte // a to-be-signed leaf of a typical size
	dk         *mlkem.DecapsulationKey768
	x25519     *ecdh.PrivateKey
	serverKey  *ecdsa.PrivateKey
}

func newFixture() (*fixture, error) {
	f := &fixture{eabKey: make([]byte, 32)}
	var err error
	if f.accountKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	// A finalize request's protected header and payload (a CSR) are about
	// 700 bytes once encoded.
	f.signingIn = []byte(strings.Repeat("eyJhbGciOiJFUzI1NiJ9", 35))
	d := sha256.Sum256(f.signingIn)
	if f.jwsSig, err = ecdsa.SignASN1(rand.Reader, f.accountKey, d[:]); err != nil {
		return nil, err
	}
	f.eabInput = []byte(strings.Repeat("eyJrdHkiOiJFQyJ9", 20))
	certKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		DNSNames: []string{"aaaaaaaaaaaaaaaaaaaaaaaaaa.lan.test", "*.aaaaaaaaaaaaaaaaaaaaaaaaaa.lan.test"},
	}, certKey)
	if err != nil {
		return nil, err
	}
	if f.csr, err = x509.ParseCertificateRequest(der); err != nil {
		return nil, err
	}
	if f.caKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	// A leaf's TBSCertificate is about 600 bytes; its content does not
	// change the cost of hashing and signing it.
	f.tbs = make([]byte, 600)
	io.ReadFull(rand.Reader, f.tbs)
	if f.dk, err = mlkem.GenerateKey768(); err != nil {
		return nil, err
	}
	if f.x25519, err = ecdh.X25519().GenerateKey(rand.Reader); err != nil {
		return nil, err
	}
	if f.serverKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *fixture) verifyJWS() error {
	d := sha256.Sum256(f.signingIn)
	if !ecdsa.VerifyASN1(&f.accountKey.PublicKey, d[:], f.jwsSig) {
		return fmt.Errorf("signature does not verify")
	}
	return nil
}

func (f *fixture) macEAB() error {
	m := hmac.New(sha256.New, f.eabKey)
	m.Write(f.eabInput)
	m.Sum(nil)
	return nil
}

func (f *fixture) checkCSR() error { return f.csr.CheckSignature() }

func (f *fixture) signLeaf() error {
	d := sha256.Sum256(f.tbs)
	_, err := ecdsa.SignASN1(rand.Reader, f.caKey, d[:])
	return err
}

// handshake is the server's public-key work in a TLS 1.3 handshake with
// Go's default key share (X25519MLKEM768): encapsulate to the client's
// ML-KEM key, make an X25519 key and agree with the client's, and sign
// the transcript for CertificateVerify. Symmetric work (HKDF, AES-GCM of
// a few records) is small and left out.
func (f *fixture) handshake() error {
	if _, _, err := mlkemEncaps(f.dk.EncapsulationKey()); err != nil {
		return err
	}
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	if _, err := k.ECDH(f.x25519.PublicKey()); err != nil {
		return err
	}
	d := sha256.Sum256(f.tbs[:48])
	_, err = ecdsa.SignASN1(rand.Reader, f.serverKey, d[:])
	return err
}

func mlkemEncaps(ek *mlkem.EncapsulationKey768) ([]byte, []byte, error) {
	// A fresh parse of the client's key, as the server does per handshake.
	ek2, err := mlkem.NewEncapsulationKey768(ek.Bytes())
	if err != nil {
		return nil, nil, err
	}
	shared, ct := ek2.Encapsulate()
	return shared, ct, nil
}
