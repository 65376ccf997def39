// Command peerconf writes what bench/issue.sh needs to run the issuer's
// peers on 127.0.0.1:
//
//	peerconf stepca --dir DIR --listen 127.0.0.1:PORT
//	    a root and an intermediate (ECDSA P-256), and DIR/ca.json with an
//	    ACME provisioner named "acme" and a Badger database in DIR/db;
//	peerconf pebble --dir DIR --listen 127.0.0.1:PORT --management 127.0.0.1:PORT --certs CERTS --eab N
//	    DIR/pebble.json with EAB required, N MAC keys and no Retry-After,
//	    and DIR/eab.txt with the same keys as `KID HMACKEY` lines; CERTS is
//	    Pebble's test/certs directory in the module cache.
//
// The step CLI is not needed: the PKI is made here with crypto/x509.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: peerconf stepca|pebble [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "stepca":
		err = stepCA(os.Args[2:])
	case "pebble":
		err = pebble(os.Args[2:])
	default:
		err = fmt.Errorf("unknown peer %q: want stepca or pebble", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "peerconf:", err)
		os.Exit(1)
	}
}

func stepCA(args []string) error {
	fs := flag.NewFlagSet("stepca", flag.ExitOnError)
	dir := fs.String("dir", "", "output `dir`")
	listen := fs.String("listen", "127.0.0.1:9000", "step-ca's HTTPS `address`")
	fs.Parse(args)
	if *dir == "" {
		return fmt.Errorf("stepca: --dir is required")
	}
	now := time.Now().Add(-time.Hour)
	rootKey, root, err := newCA("bench root CA", now, nil, nil)
	if err != nil {
		return err
	}
	interKey, inter, err := newCA("bench intermediate CA", now, root, rootKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(interKey)
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"root_ca.crt":         pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw}),
		"intermediate_ca.crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: inter.Raw}),
		"intermediate_ca_key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(*dir, name), b, 0o600); err != nil {
			return err
		}
	}
	host := strings.Split(*listen, ":")[0]
	cfg := map[string]any{
		"root":     filepath.Join(*dir, "root_ca.crt"),
		"crt":      filepath.Join(*dir, "intermediate_ca.crt"),
		"key":      filepath.Join(*dir, "intermediate_ca_key"),
		"address":  *listen,
		"dnsNames": []string{host, "localhost"},
		"logger":   map[string]any{"format": "text"},
		"db":       map[string]any{"type": "badgerv2", "dataSource": filepath.Join(*dir, "db")},
		"authority": map[string]any{
			"provisioners": []any{map[string]any{"type": "ACME", "name": "acme"}},
		},
		"tls": map[string]any{"minVersion": 1.2, "maxVersion": 1.3, "renegotiation": false},
	}
	return writeJSON(filepath.Join(*dir, "ca.json"), cfg)
}

// newCA makes a CA certificate: self-signed when parent is nil, else an
// intermediate with path length 0.
func newCA(name string, now time.Time, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*ecdsa.PrivateKey, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now,
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	} else {
		tmpl.MaxPathLenZero = true
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, fmt.Errorf("make %s: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	return key, cert, err
}

func pebble(args []string) error {
	fs := flag.NewFlagSet("pebble", flag.ExitOnError)
	dir := fs.String("dir", "", "output `dir`")
	listen := fs.String("listen", "127.0.0.1:14000", "Pebble's ACME `address`")
	mgmt := fs.String("management", "127.0.0.1:15000", "Pebble's management `address`")
	certs := fs.String("certs", "", "Pebble's test/certs `dir`")
	n := fs.Int("eab", 1000, "how many EAB keys")
	fs.Parse(args)
	if *dir == "" || *certs == "" {
		return fmt.Errorf("pebble: --dir and --certs are required")
	}
	keys := map[string]string{}
	var lines strings.Builder
	for i := range *n {
		b := make([]byte, 32)
		rand.Read(b)
		kid, key := fmt.Sprintf("kid-%d", i+1), base64.RawURLEncoding.EncodeToString(b)
		keys[kid] = key
		fmt.Fprintf(&lines, "%s %s\n", kid, key)
	}
	if err := os.WriteFile(filepath.Join(*dir, "eab.txt"), []byte(lines.String()), 0o600); err != nil {
		return err
	}
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":                  *listen,
		"managementListenAddress":        *mgmt,
		"certificate":                    filepath.Join(*certs, "localhost", "cert.pem"),
		"privateKey":                     filepath.Join(*certs, "localhost", "key.pem"),
		"httpPort":                       5002,
		"tlsPort":                        5001,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": true,
		"externalAccountMACKeys":         keys,
		"retryAfter":                     map[string]int{"authz": 0, "order": 0},
		"keyAlgorithm":                   "ecdsa",
		"profiles": map[string]any{
			"default": map[string]any{"description": "bench", "validityPeriod": 7776000},
		},
	}}
	return writeJSON(filepath.Join(*dir, "pebble.json"), cfg)
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o600)
}
