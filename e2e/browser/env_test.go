// Package browser proves in Chromium what lantls is for: a browser accepts
// a device's certificate with no warning, a page on the device is a
// secure context, and a web app on another HTTPS origin reaches the
// device's API and WebSocket when both the browser's Local Network Access
// permission and the owner's origin grant allow it. Everything between
// browser and device is real: the issuer, the agent in proxy mode, TLS
// checked against a profile whose NSS database trusts only the test root.
// See README.md.
package browser

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lantls/lantls/agent"
	"github.com/lantls/lantls/agent/onboard"
	"github.com/lantls/lantls/agent/proxy"
	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/internal/testwait"
	"github.com/lantls/lantls/issuer"
	"github.com/lantls/lantls/store"
	"github.com/lantls/lantls/users"
)

// zone is the zone of the local issuer.
const zone = "lan.test"

// pairTimeout bounds pairing a device and getting its first certificate
// on a loaded two-core machine.
const pairTimeout = time.Minute

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e/browser: skipped in -short mode")
		return
	}
	code := m.Run()
	for _, e := range []*env{localEnv} {
		if e != nil {
			e.close()
		}
	}
	os.Exit(code)
}

// env is an issuer with its owner, devices and a browser, shared by the
// tests of the package and closed by TestMain.
type env struct {
	iss     *issuer.Issuer
	roots   *x509.CertPool
	rootPEM []byte
	owner   *store.Owner
	dir     string
	closers []func()
}

func (e *env) close() {
	for _, c := range slices.Backward(e.closers) {
		c()
	}
	os.RemoveAll(e.dir)
}

// startIssuer runs an issuer on 127.0.0.1 port 0 in a directory of e's,
// as `lantls issuer` would, until e closes.
func (e *env) startIssuer(cfg issuer.Config) error {
	cfg.DataDir = filepath.Join(e.dir, "issuer")
	if cfg.Zone == "" {
		cfg.Zone = zone
	}
	if cfg.Signer == "" {
		cfg.Signer = "local"
	}
	cfg.Listen, cfg.HTTPListen = "127.0.0.1:0", "127.0.0.1:0"
	if cfg.DNSListen == "" {
		cfg.DNSListen = "127.0.0.1:0"
	}
	if cfg.Logger == nil && os.Getenv("LANTLS_E2E_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	iss, err := issuer.New(ctx, cfg)
	if err != nil {
		cancel()
		return fmt.Errorf("start issuer: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- iss.Run(ctx) }()
	e.closers = append(e.closers, func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				fmt.Fprintf(os.Stderr, "e2e/browser: issuer: %v\n", err)
			}
		case <-time.After(15 * time.Second):
			fmt.Fprintln(os.Stderr, "e2e/browser: issuer did not stop within 15s")
		}
	})
	e.iss = iss
	e.rootPEM = iss.RootPEM()
	e.roots = x509.NewCertPool()
	e.roots.AppendCertsFromPEM(e.rootPEM)
	// The owner logs in to the owner UI as alice.
	u, err := users.Add(ctx, iss.Store(), ownerName, store.RoleOwner, ownerPassword)
	if err != nil {
		return err
	}
	e.owner, err = iss.Store().GetOwner(ctx, u.OwnerID)
	return err
}

// The owner's user in the owner UI.
const (
	ownerName     = "alice"
	ownerPassword = "correct horse battery"
)

// device is a paired device: the lantls agent in proxy mode (TLS from the
// agent's certificate in front of the device's own plain-HTTP app),
// listening on 127.0.0.1.
type device struct {
	agent  *agent.Agent
	id     string // the issuer's device ID
	label  string
	addr   string       // 127.0.0.1:PORT of its HTTPS listener
	origin string       // https://127-0-0-1.LABEL.ZONE:PORT
	stop   func()       // stops the agent's renewal loops
	ran    <-chan error // the agent's Run returned
	close  func()       // stops everything
}

// deviceOptions configure startDevice.
type deviceOptions struct {
	Model string
	App   http.Handler // the device's own UI, served on plain HTTP behind the proxy
	// Grants are the web origins the owner grants the device.
	Grants []string
	// OnPairing, when set, receives the user code instead of the owner
	// approving it through the pairing service: the test approves, then
	// calls waitReady.
	OnPairing func(agent.Pairing)
	// Onboard, when set, receives the address of the onboarding page.
	Onboard func(addr string)
}

// startDevice starts the device's app, its agent in proxy mode and (unless
// opts.OnPairing is set) approves its pairing as e's owner through the
// issuer's pairing service (the Go API the owner UI calls), and waits for
// its first certificate and for the agent to know its grants.
func (e *env) startDevice(opts deviceOptions) (_ *device, err error) {
	app := httptest.NewServer(opts.App)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		app.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stops []func()
	d := &device{addr: ln.Addr().String()}
	d.close = func() {
		cancel()
		for _, s := range slices.Backward(stops) {
			s()
		}
	}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	stops = append(stops, app.Close)
	dir, err := os.MkdirTemp(e.dir, "device-")
	if err != nil {
		ln.Close()
		return nil, err
	}
	codes := make(chan string, 4)
	cfg := agent.Config{
		Issuer:   e.iss.Info().BaseURL,
		Roots:    e.roots,
		Storage:  agent.DirStorage(dir),
		Model:    opts.Model,
		Hostname: opts.Model,
		OnPairing: func(p agent.Pairing) {
			if opts.OnPairing != nil {
				opts.OnPairing(p)
				return
			}
			codes <- p.UserCode
		},
		Addresses: func() ([]netip.Addr, error) { return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil },
		RetryBase: 200 * time.Millisecond,
		RetryMax:  2 * time.Second,
	}
	if d.agent, err = agent.New(cfg); err != nil {
		ln.Close()
		return nil, err
	}
	upstream, _ := url.Parse(app.URL)
	srv := &http.Server{Handler: proxy.New(upstream, nil, d.agent), TLSConfig: d.agent.TLSConfig(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: log.New(io.Discard, "", 0)} // refused handshakes are what some tests want
	go srv.ServeTLS(ln, "", "")
	stops = append(stops, func() { srv.Close() })
	_, port, _ := net.SplitHostPort(d.addr)
	d.agent.SetHTTPSPort(port) // reported with the addresses, for the owner's links
	if opts.Onboard != nil {
		oln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		osrv := &http.Server{Handler: onboard.Handler(d.agent, onboard.Config{HTTPSPort: port}), ReadHeaderTimeout: 10 * time.Second}
		go osrv.Serve(oln)
		stops = append(stops, func() { osrv.Close() })
		opts.Onboard(oln.Addr().String())
	}
	runCtx, stopRun := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- d.agent.Run(runCtx) }()
	var once sync.Once
	d.stop = func() { once.Do(func() { stopRun(); <-ran }) }
	stops = append(stops, d.stop)

	d.ran = ran
	if opts.OnPairing != nil {
		return d, nil
	}
	wait, cancelWait := context.WithTimeout(ctx, pairTimeout)
	defer cancelWait()
	select {
	case code := <-codes:
		if err := e.approve(wait, code, opts.Grants); err != nil {
			return nil, err
		}
	case err := <-ran:
		return nil, fmt.Errorf("agent stopped before pairing: %v", err)
	case <-wait.Done():
		return nil, errors.New("agent showed no user code")
	}
	if err := e.waitReady(wait, d); err != nil {
		return nil, err
	}
	// The agent fetches its policy when it starts serving, then at the
	// max-age the issuer gives (a minute).
	deadline, _ := wait.Deadline()
	for _, o := range opts.Grants {
		if !testwait.Until(time.Until(deadline), func() bool { return d.agent.OriginGranted(o) }) {
			return nil, fmt.Errorf("the agent did not learn its grant of %s within %s", o, pairTimeout)
		}
	}
	return d, nil
}

// waitReady waits for d's first certificate, then learns its label,
// address-name origin and device ID.
func (e *env) waitReady(ctx context.Context, d *device) error {
	select {
	case <-d.agent.Ready():
	case err := <-d.ran:
		return fmt.Errorf("agent stopped before its first certificate: %v", err)
	case <-ctx.Done():
		return fmt.Errorf("no certificate in time (agent status %+v)", d.agent.Status())
	}
	d.label = d.agent.Status().Label
	_, port, _ := net.SplitHostPort(d.addr)
	d.origin = fmt.Sprintf("https://127-0-0-1.%s.%s:%s", d.label, e.iss.Info().Zone, port)
	dev, err := e.iss.Store().GetDeviceByLabel(ctx, d.label)
	if err != nil {
		return err
	}
	d.id = dev.ID
	return nil
}

// approve approves the pairing of code as e's owner through the issuer's
// pairing service (the Go API the owner UI calls) and grants the device
// the origins at once, before the device has collected its credentials.
func (e *env) approve(ctx context.Context, code string, grants []string) error {
	p, err := e.iss.Pairing().Lookup(ctx, code)
	if err != nil {
		return fmt.Errorf("look up %s: %w", code, err)
	}
	if err := e.iss.Pairing().Approve(ctx, code, e.owner.ID, "e2e"); err != nil {
		return fmt.Errorf("approve %s: %w", code, err)
	}
	if len(grants) == 0 {
		return nil
	}
	dev, err := e.iss.Store().GetDeviceByLabel(ctx, p.Label)
	if err != nil {
		return err
	}
	_, err = devices.SetGrants(ctx, e.iss.Store(), devices.Actor{OwnerID: e.owner.ID, Name: ownerName}, dev.ID, grants)
	return err
}

// host is the device's address-name for 127.0.0.1 with its port.
func (d *device) host() string {
	u, _ := url.Parse(d.origin)
	return u.Host
}
