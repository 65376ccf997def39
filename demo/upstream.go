package demo

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/lantls/lantls/ca/upstream"
	"github.com/lantls/lantls/demo/upstreamca"
	"github.com/lantls/lantls/issuer"
)

// upstreamCA is the public CA of `lantls demo --upstream`: Let's Encrypt's
// test CA, Pebble, in its own process (lantls-pebble), validating dns-01
// against the issuer's zone on a loopback DNS address.
type upstreamCA struct {
	proc     *upstreamca.Process
	root     *x509.Certificate
	bundle   string // Pebble's HTTPS certificate, for --upstream-ca-bundle
	rootFile string // the root of what Pebble issues
}

// startUpstream finds or builds lantls-pebble (command, when set) and
// starts it.
func startUpstream(ctx context.Context, command, dataDir string, out io.Writer) (*upstreamCA, error) {
	path, err := upstreamca.Find(ctx, command, dataDir, out)
	if err != nil {
		return nil, err
	}
	proc, err := upstreamca.Start(ctx, path)
	if err != nil {
		return nil, err
	}
	u := &upstreamCA{
		proc:     proc,
		bundle:   filepath.Join(dataDir, "pebble-tls.pem"),
		rootFile: filepath.Join(dataDir, "pebble-root.pem"),
	}
	if u.root, err = proc.Root(); err == nil {
		err = os.WriteFile(u.bundle, []byte(proc.TLSRootPEM), 0o600)
	}
	if err == nil {
		err = os.WriteFile(u.rootFile, []byte(proc.RootPEM), 0o600)
	}
	if err != nil {
		proc.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return u, nil
}

// configure makes cfg an issuer brokering to the demo's Pebble.
func (u *upstreamCA) configure(cfg *issuer.Config) {
	cfg.Signer = "upstream"
	cfg.Upstream = issuer.UpstreamConfig{
		Directory: u.proc.Directory,
		CABundle:  u.bundle,
		Limits:    upstream.DefaultLimits,
	}
	cfg.DNSListen = u.proc.DNS
}

// roots trust Pebble's root alone.
func (u *upstreamCA) roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(u.root)
	return p
}
