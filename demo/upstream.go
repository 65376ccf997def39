package demo

import (
	"crypto/x509"
	"os"
	"path/filepath"

	"github.com/lantls/lantls/ca/upstream"
	"github.com/lantls/lantls/internal/pebble"
	"github.com/lantls/lantls/issuer"
)

// upstreamCA is the public CA of `lantls demo --upstream`: Let's Encrypt's
// test CA, Pebble, in this process, validating dns-01 against the
// issuer's zone on a loopback DNS address.
type upstreamCA struct {
	pebble   *pebble.Server
	dns      string // where Pebble asks for the zone
	bundle   string // Pebble's HTTPS certificate, for --upstream-ca-bundle
	rootFile string // the root of what Pebble issues
}

func startUpstream(dataDir string) (*upstreamCA, error) {
	addr, err := pebble.FreeDNSAddr()
	if err != nil {
		return nil, err
	}
	peb, err := pebble.Start(pebble.Options{DNSServer: addr})
	if err != nil {
		return nil, err
	}
	u := &upstreamCA{
		pebble:   peb,
		dns:      addr,
		bundle:   filepath.Join(dataDir, "pebble-tls.pem"),
		rootFile: filepath.Join(dataDir, "pebble-root.pem"),
	}
	if err := os.WriteFile(u.bundle, peb.TLSRootPEM(), 0o600); err != nil {
		peb.Close()
		return nil, err
	}
	if err := os.WriteFile(u.rootFile, peb.RootPEM(), 0o600); err != nil {
		peb.Close()
		return nil, err
	}
	return u, nil
}

// configure makes cfg an issuer brokering to the demo's Pebble.
func (u *upstreamCA) configure(cfg *issuer.Config) {
	cfg.Signer = "upstream"
	cfg.Upstream = issuer.UpstreamConfig{
		Directory: u.pebble.Directory(),
		CABundle:  u.bundle,
		Limits:    upstream.DefaultLimits,
	}
	cfg.DNSListen = u.dns
}

// roots trust Pebble's root alone.
func (u *upstreamCA) roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(u.pebble.Root())
	return p
}
