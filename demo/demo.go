// Package demo runs the whole system on loopback: an issuer on embedded
// defaults, a device made for a demo owner, the device's certificate got
// with the agent's ACME client, and a small HTTPS page served with it.
package demo

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/lantls/lantls/agent"
	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/issuer"
	"github.com/lantls/lantls/names"
)

// Options configure a demo run.
type Options struct {
	// DataDir keeps the issuer's state; empty means a temporary directory
	// removed when the demo ends.
	DataDir string
	Zone    string // empty means issuer.Defaults.Zone
	// Check fetches the page with a client that trusts only the demo root,
	// prints a summary and returns instead of serving until ctx ends.
	Check  bool
	Out    io.Writer    // progress and instructions
	Logger *slog.Logger // the issuer's log; nil discards it
}

// Run runs the demo. Every step prints one line to Out; an error names the
// step that failed.
func Run(ctx context.Context, opts Options) error {
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.Zone == "" {
		opts.Zone = issuer.Defaults.Zone
	}
	dataDir := opts.DataDir
	if dataDir == "" {
		tmp, err := os.MkdirTemp("", "lantls-demo-")
		if err != nil {
			return fmt.Errorf("create temporary data dir: %w", err)
		}
		defer os.RemoveAll(tmp)
		dataDir = tmp
	}
	p := &progress{out: opts.Out, total: 5}
	fmt.Fprintln(opts.Out, "lantls demo: an issuer, a device and its HTTPS page, all on loopback")

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	iss, err := issuer.New(ctx, issuer.Config{
		DataDir:    dataDir,
		Zone:       opts.Zone,
		Listen:     "127.0.0.1:0",
		HTTPListen: "127.0.0.1:0",
		Hostnames:  issuer.Defaults.Hostnames,
		Signer:     "local",
		Logger:     opts.Logger,
	})
	if err != nil {
		return fmt.Errorf("start issuer: %w", err)
	}
	issDone := make(chan error, 1)
	go func() { issDone <- iss.Run(ctx) }()
	defer func() {
		cancel()
		<-issDone
	}()
	info := iss.Info()
	p.step("issuer", "%s (data in %s)", info.Directory, dataDir)

	creds, err := devices.Add(ctx, iss.Store(), info.Zone, "demo", "Demo device", time.Now())
	if err != nil {
		return err
	}
	p.step("device", "%q of owner %q, label %s", creds.Device.Name, creds.Owner.Name, creds.Device.Label)

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(iss.RootPEM())
	httpc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	client, err := register(ctx, info.Directory, creds, httpc)
	if err != nil {
		return err
	}
	p.step("account", "registered with EAB key %s", creds.KID)
	cert, err := agent.Obtain(ctx, client, creds.Names)
	if err != nil {
		return err
	}
	p.step("certificate", "serial %x for %s, valid until %s", cert.Leaf.SerialNumber, strings.Join(cert.Leaf.DNSNames, ", "), cert.Leaf.NotAfter.Format(time.DateOnly))

	page, err := servePage(ctx, cert, creds.Device.Name)
	if err != nil {
		return err
	}
	host := names.AddressName(netip.MustParseAddr("127.0.0.1"), creds.Device.Label, info.Zone)
	url := fmt.Sprintf("https://%s:%d/", host, page.Port())
	p.step("device page", "%s", url)

	curl := fmt.Sprintf("curl --cacert %s --resolve %s:%d:127.0.0.1 %s", info.Root, host, page.Port(), url)
	if opts.Check {
		return check(ctx, opts.Out, url, host, page, roots, iss.RootPEM())
	}
	fmt.Fprintf(opts.Out, `
Try it (the root is trusted only for this command):
  %s

In a browser: trust %s once, then open the page with the name mapped to
loopback, e.g. in Chromium with a throwaway profile:
  chromium --user-data-dir=$(mktemp -d) --host-resolver-rules="MAP *.%s 127.0.0.1" %s

Press Ctrl-C to stop.
`, curl, info.Root, info.Zone, url)
	<-ctx.Done()
	fmt.Fprintln(opts.Out, "\nstopping")
	return nil
}

// register makes the device's account key and registers it with the
// device's EAB key, as an agent does after pairing.
func register(ctx context.Context, directory string, creds *devices.Credentials, httpc *http.Client) (*acme.Client, error) {
	hmac, err := base64.RawURLEncoding.DecodeString(creds.HMACKey)
	if err != nil {
		return nil, fmt.Errorf("decode EAB key: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate account key: %w", err)
	}
	return agent.Register(ctx, directory, key, &acme.ExternalAccountBinding{KID: creds.KID, Key: hmac}, httpc)
}

// page is the device's small HTTPS server.
type page struct {
	addr *net.TCPAddr
}

func (p *page) Port() int { return p.addr.Port }

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Name}}</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40em; margin: 3em auto">
<h1>Hello from {{.Name}}</h1>
<p>This page is served over HTTPS with a certificate from your lantls issuer,
for <code>{{.Host}}</code>. The browser shows no warning and the page is a
secure context: <strong id="secure">checking…</strong></p>
<script>document.getElementById("secure").textContent = window.isSecureContext ? "yes" : "no";</script>
</body></html>
`))

func servePage(ctx context.Context, cert *tls.Certificate, name string) (*page, error) {
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		return nil, fmt.Errorf("listen for the device page: %w", err)
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		pageTemplate.Execute(w, struct{ Name, Host string }{name, r.Host})
	})}
	go srv.Serve(ln)
	context.AfterFunc(ctx, func() { srv.Close() })
	return &page{addr: ln.Addr().(*net.TCPAddr)}, nil
}

// check fetches the page as a browser would, trusting only the demo root
// and resolving the device's address-name to loopback.
func check(ctx context.Context, out io.Writer, url, host string, p *page, roots *x509.CertPool, rootPEM []byte) error {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, p.addr.String())
		},
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("check: fetch %s trusting only the demo root: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("check: read %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Hello from") {
		return fmt.Errorf("check: %s answered %s without the demo page", url, resp.Status)
	}
	leaf := resp.TLS.PeerCertificates[0]
	outside := "device.example.com"
	if leaf.VerifyHostname(outside) == nil {
		return errors.New("check: the device certificate is valid for a name outside the zone")
	}
	fmt.Fprintf(out, `
demo check passed:
  fetched  %s (%s, %d bytes)
  TLS      %s, certificate serial %x issued by %q
  trusted  only the demo root (%d bytes of PEM); %s is rejected as it should be
`, url, resp.Status, len(body), tls.VersionName(resp.TLS.Version), leaf.SerialNumber, leaf.Issuer.CommonName, len(rootPEM), outside)
	return nil
}

type progress struct {
	out   io.Writer
	n     int
	total int
}

func (p *progress) step(what, format string, args ...any) {
	p.n++
	fmt.Fprintf(p.out, "[%d/%d] %-12s %s\n", p.n, p.total, what, fmt.Sprintf(format, args...))
}
