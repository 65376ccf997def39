// Package demo runs the whole system on loopback: an issuer on embedded
// defaults, a device running the lantls agent that pairs with the issuer
// (RFC 8628, approved by a demo owner), gets its certificate and serves, in
// proxy mode, a small web app over HTTPS with it.
package demo

import (
	"context"
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
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lantls/lantls/agent"
	"github.com/lantls/lantls/agent/proxy"
	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/internal/atomicfile"
	"github.com/lantls/lantls/issuer"
	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/store"
	"github.com/lantls/lantls/users"
)

// Options configure a demo run.
type Options struct {
	// DataDir keeps the issuer's state; empty means a temporary directory
	// removed when the demo ends.
	DataDir string
	Zone    string // empty means issuer.Defaults.Zone
	// Check fetches the page with a client that trusts only the demo root,
	// prints a summary and returns instead of serving until ctx ends.
	Check bool
	// Upstream gets the device's certificate from a public ACME CA, as
	// `lantls issuer --signer upstream` does: Let's Encrypt's test CA,
	// Pebble, runs in this process, and the page's certificate chains to
	// its root instead of the issuer's, in its own process (the
	// lantls-pebble command; see upstreamca.Find).
	Upstream bool
	// Attest requires the demo device's model to prove its key in
	// hardware (device-attest-01): the issuer trusts a test manufacturer
	// made for the run, and the agent uses a software attester it
	// certified. NOT FOR PRODUCTION: the key is in memory.
	Attest bool
	// Pebble is the path of the lantls-pebble command; empty means
	// upstreamca.Find looks for it.
	Pebble string
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
	dataDir, rootKey := opts.DataDir, ""
	if dataDir == "" {
		tmp, err := os.MkdirTemp("", "lantls-demo-")
		if err != nil {
			return fmt.Errorf("create temporary data dir: %w", err)
		}
		defer os.RemoveAll(tmp)
		// The root key beside the data dir, inside what is removed.
		dataDir, rootKey = filepath.Join(tmp, "data"), filepath.Join(tmp, "root.key")
		if err := os.Mkdir(dataDir, 0o700); err != nil {
			return fmt.Errorf("create temporary data dir: %w", err)
		}
	}
	p := &progress{out: opts.Out, total: 5}
	fmt.Fprintln(opts.Out, "lantls demo: an issuer, a device and its HTTPS page, all on loopback")

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cfg := issuer.Config{
		DataDir:    dataDir,
		Zone:       opts.Zone,
		Listen:     "127.0.0.1:0",
		HTTPListen: "127.0.0.1:0",
		Hostnames:  issuer.Defaults.Hostnames,
		// The demo's root permits loopback, where everything runs, and
		// the zone.
		CAPermit:    []string{"127.0.0.0/8", "::1"},
		RootKeyFile: rootKey,
		Signer:      "local",
		Logger:      opts.Logger,
	}
	var up *upstreamCA
	if opts.Upstream {
		var err error
		fmt.Fprintln(opts.Out, "  with --upstream: the certificate comes from Pebble, Let's Encrypt's test CA, running beside the issuer as a public CA")
		if up, err = startUpstream(ctx, opts.Pebble, dataDir, opts.Out); err != nil {
			return fmt.Errorf("start the upstream CA (Pebble): %w", err)
		}
		defer up.proc.Close()
		up.configure(&cfg)
		p.total++
	}
	var att agent.Attester
	if opts.Attest {
		var err error
		if att, err = demoAttester(&cfg, dataDir); err != nil {
			return err
		}
		p.total++
	}
	iss, err := issuer.New(ctx, cfg)
	if err != nil {
		return fmt.Errorf("start issuer: %w", err)
	}
	if att != nil {
		if err := devices.SetAttestRule(ctx, iss.Store(), devices.Operator, demoModel, "required"); err != nil {
			return fmt.Errorf("attestation rule: %w", err)
		}
	}
	issDone := make(chan error, 1)
	go func() { issDone <- iss.Run(ctx) }()
	defer func() {
		cancel()
		<-issDone
	}()
	info := iss.Info()
	p.step("issuer", "%s (data in %s)", info.Directory, dataDir)
	// What the page's certificate chains to.
	pageRoots, pageRootPEM, pageRootFile, pageRootName := x509.NewCertPool(), iss.RootPEM(), info.Root, "the demo root"
	pageRoots.AppendCertsFromPEM(pageRootPEM)
	if up != nil {
		pageRoots, pageRootPEM, pageRootFile, pageRootName = up.roots(), []byte(up.proc.RootPEM), up.rootFile, "Pebble's root"
		p.step("upstream CA", "Pebble at %s, account %s; it validates dns-01 against the zone at %s", up.proc.Directory, info.UpstreamAccount, up.proc.DNS)
	}

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(iss.RootPEM())
	dev, devDone, err := pairDevice(ctx, p, iss, roots, filepath.Join(dataDir, "agent"), att, opts.Logger)
	if err != nil {
		return err
	}
	defer func() {
		cancel()
		<-devDone
	}()
	cert := dev.Certificate()
	p.step("certificate", "serial %x for %s, valid until %s", cert.Leaf.SerialNumber, strings.Join(cert.Leaf.DNSNames, ", "), cert.Leaf.NotAfter.Format(time.DateOnly))
	_, label, _ := names.SplitDevice(cert.Leaf.DNSNames[0], info.Zone)
	if att != nil {
		d, err := iss.Store().GetDeviceByLabel(ctx, label)
		if err != nil {
			return fmt.Errorf("read the device: %w", err)
		}
		a, err := iss.Store().GetDeviceAttestation(ctx, d.ID)
		if err != nil {
			return fmt.Errorf("read the device's attestation: %w", err)
		}
		p.step("attested", "%s statement for %s %s, by root %s (a software attester: NOT FOR PRODUCTION)", a.Format, a.Identifier.Type, a.Identifier.Value, a.Root)
	}

	app, err := serveApp(ctx, demoDevice)
	if err != nil {
		return err
	}
	page, err := serveProxy(ctx, dev, app)
	if err != nil {
		return err
	}
	host := names.AddressName(netip.MustParseAddr("127.0.0.1"), label, info.Zone)
	url := fmt.Sprintf("https://%s:%d/", host, page.Port())
	p.step("device page", "%s (the agent's proxy in front of the device's app on http://%s)", url, app)

	curl := fmt.Sprintf("curl --cacert %s --resolve %s:%d:127.0.0.1 %s", pageRootFile, host, page.Port(), url)
	if opts.Check {
		return check(ctx, opts.Out, url, host, page, pageRoots, pageRootName, pageRootPEM)
	}
	password, err := demoLogin(ctx, iss)
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.Out, `
Owner web UI: %s  (log in as %s, password %s)
`, iss.UIURL(), demoOwner, password)
	fmt.Fprintf(opts.Out, `
Try it (the root is trusted only for this command):
  %s

In a browser: trust %s once, then open the page with the name mapped to
loopback, e.g. in Chromium with a throwaway profile:
  chromium --user-data-dir=$(mktemp -d) --host-resolver-rules="MAP *.%s 127.0.0.1" %s

Press Ctrl-C to stop.
`, curl, pageRootFile, info.Zone, url)
	<-ctx.Done()
	fmt.Fprintln(opts.Out, "\nstopping")
	return nil
}

// demoLogin makes the demo owner a user of the web UI with a new random
// password (a demo run on an old data dir gets a new one) and returns it.
func demoLogin(ctx context.Context, iss *issuer.Issuer) (string, error) {
	b := make([]byte, 9)
	rand.Read(b)
	password := base64.RawURLEncoding.EncodeToString(b)
	if _, err := iss.Store().GetUserByName(ctx, demoOwner); err == nil {
		err = users.SetPassword(ctx, iss.Store(), demoOwner, password)
		return password, err
	}
	_, err := users.Add(ctx, iss.Store(), demoOwner, store.RoleAdmin, password)
	return password, err
}

// demoOwner owns the demo device, and demoDevice is its hostname.
const (
	demoOwner  = "demo"
	demoDevice = "demo-device"
	demoModel  = "lantls demo device"
)

// demoAttester makes a test manufacturer, has the issuer trust its root
// (cfg.AttestRoots, in dataDir) and returns a software attester it
// certified. NOT FOR PRODUCTION, like everything in the demo.
func demoAttester(cfg *issuer.Config, dataDir string) (agent.Attester, error) {
	maker, err := agent.NewTestManufacturer("lantls demo maker")
	if err != nil {
		return nil, fmt.Errorf("test manufacturer: %w", err)
	}
	dir := filepath.Join(dataDir, "attest-roots")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("attestation roots: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, "demo-maker.pem"), maker.RootPEM(), 0o644); err != nil {
		return nil, fmt.Errorf("attestation roots: %w", err)
	}
	cfg.AttestRoots = dir
	return agent.NewSoftwareAttester(maker, "permanent-identifier", "DEMO-0001")
}

// pairDevice runs the lantls agent for the demo device with its state in
// dir. The first time, it pairs through RFC 8628: the agent shows its code
// as a person would see it, and the demo owner approves it, as they would
// in the issuer's web UI. It returns once the agent serves a certificate;
// the agent keeps it renewed until ctx ends, then reports on the channel.
func pairDevice(ctx context.Context, p *progress, iss *issuer.Issuer, roots *x509.CertPool, dir string, att agent.Attester, logger *slog.Logger) (*agent.Agent, <-chan error, error) {
	owner, err := iss.Store().EnsureOwner(ctx, demoOwner)
	if err != nil {
		return nil, nil, fmt.Errorf("demo owner: %w", err)
	}
	approved := make(chan error, 1)
	a, err := agent.New(agent.Config{
		Issuer:    iss.Info().BaseURL,
		Roots:     roots,
		Storage:   agent.DirStorage(dir),
		Model:     demoModel,
		Attester:  att,
		Hostname:  demoDevice,
		Addresses: func() ([]netip.Addr, error) { return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil },
		Logger:    logger,
		OnPairing: func(pg agent.Pairing) {
			p.step("pairing", "the device shows: open %s and enter %s", pg.VerificationURI, pg.UserCode)
			err := iss.Pairing().Approve(ctx, pg.UserCode, owner.ID, demoOwner)
			if err == nil {
				p.step("approved", "code %s, by owner %q", pg.UserCode, demoOwner)
			}
			select {
			case approved <- err:
			default:
			}
		},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("start the device's agent: %w", err)
	}
	if a.Certificate() != nil {
		p.step("pairing", "already paired (agent state in %s)", dir)
		p.step("approved", "earlier, by owner %q", demoOwner)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	timeout := time.NewTimer(time.Minute)
	defer timeout.Stop()
	for {
		select {
		case <-a.Ready():
			return a, done, nil
		case err := <-approved:
			if err != nil {
				return nil, nil, fmt.Errorf("approve the demo device: %w", err)
			}
		case err := <-done:
			return nil, nil, fmt.Errorf("the device's agent stopped: %v", err)
		case <-timeout.C:
			return nil, nil, errors.New("the device got no certificate within a minute (run with --log-level debug to see why)")
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
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

// serveApp serves the device's own small web app on plain HTTP, as a
// device's UI is before lantls, and returns its address.
func serveApp(ctx context.Context, name string) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("listen for the device app: %w", err)
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		pageTemplate.Execute(w, struct{ Name, Host string }{name, r.Host})
	})}
	go srv.Serve(ln)
	context.AfterFunc(ctx, func() { srv.Close() })
	return ln.Addr().String(), nil
}

// serveProxy serves the agent in proxy mode: HTTPS with its certificate in
// front of the app.
func serveProxy(ctx context.Context, a *agent.Agent, app string) (*page, error) {
	ln, err := tls.Listen("tcp", "127.0.0.1:0", a.TLSConfig())
	if err != nil {
		return nil, fmt.Errorf("listen for the device page: %w", err)
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: proxy.New(&neturl.URL{Scheme: "http", Host: app}, nil, a)}
	go srv.Serve(ln)
	context.AfterFunc(ctx, func() { srv.Close() })
	return &page{addr: ln.Addr().(*net.TCPAddr)}, nil
}

// check fetches the page as a browser would, trusting only roots (named
// rootName) and resolving the device's address-name to loopback.
func check(ctx context.Context, out io.Writer, url, host string, p *page, roots *x509.CertPool, rootName string, rootPEM []byte) error {
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
		return fmt.Errorf("check: fetch %s trusting only %s: %w", url, rootName, err)
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
  trusted  only %s (%d bytes of PEM); %s is rejected as it should be
`, url, resp.Status, len(body), tls.VersionName(resp.TLS.Version), leaf.SerialNumber, leaf.Issuer.CommonName, rootName, len(rootPEM), outside)
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
