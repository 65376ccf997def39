// Package agentcmd is the command line of the lantls agent, shared by
// `lantls agent` and the standalone `lantls-agent` binary: the same flags,
// subcommands and output in both.
package agentcmd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/mdp/qrterminal/v3"

	"github.com/lantls/lantls/agent"
	"github.com/lantls/lantls/agent/onboard"
	"github.com/lantls/lantls/agent/proxy"
	"github.com/lantls/lantls/internal/cli"
	"github.com/lantls/lantls/internal/flagfile"
	"github.com/lantls/lantls/internal/sdnotify"
)

// UsageError is a mistake in how the command was called (exit status 2).
type UsageError = cli.UsageError

func usagef(format string, args ...any) error { return cli.Usagef(format, args...) }

// Run runs the agent command named prog ("lantls agent" or
// "lantls-agent") with args: no subcommand runs the agent; "status" and
// "reset" inspect or wipe its state.
func Run(ctx context.Context, prog string, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "status":
			return runStatus(ctx, prog, args[1:], stdout, stderr)
		case "reset":
			return runReset(ctx, prog, args[1:], stdout, stderr)
		case "tpm-ak":
			return runTPMAK(ctx, prog, args[1:], stdout, stderr)
		case "run":
			args = args[1:]
		}
	}
	return runAgent(ctx, prog, args, stdout, stderr)
}

// common are the flags every subcommand takes.
type common struct {
	issuer, issuerCA, data string
	logFormat, logLevel    string
	conf                   *flagfile.Loader
}

// EnvPrefix starts the environment variable of each flag of the agent
// (LANTLS_AGENT_ISSUER for --issuer), read by internal/flagfile.
const EnvPrefix = "LANTLS_AGENT_"

func (c *common) add(fs *flag.FlagSet) {
	c.conf = flagfile.Add(fs, EnvPrefix)
	fs.StringVar(&c.issuer, "issuer", "", "the issuer's base `URL`, e.g. https://hub.lan.example:8443 (needed to pair; later read from the state)")
	fs.StringVar(&c.issuerCA, "issuer-ca", "", "PEM `file` of the CA that signed the issuer's own certificate, when it is not publicly trusted (e.g. the issuer's root.pem)")
	fs.StringVar(&c.data, "data", agent.DefaultDir(), "state `dir`: account key, TLS key, certificate, credentials (mode 0700)")
	fs.StringVar(&c.logFormat, "log-format", "text", "log `format` on stderr: text or json")
	fs.StringVar(&c.logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
}

// config builds the agent's config from the common flags.
func (c *common) config(ctx context.Context, stderr io.Writer) (agent.Config, error) {
	cfg := agent.Config{Storage: agent.DirStorage(c.data), Issuer: c.issuer}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return cfg, usagef("--log-level %q: use debug, info, warn or error", c.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.logFormat {
	case "text":
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, opts))
	case "json":
		cfg.Logger = slog.New(slog.NewJSONHandler(stderr, opts))
	default:
		return cfg, usagef("--log-format %q: use text or json", c.logFormat)
	}
	if c.issuerCA != "" {
		pem, err := os.ReadFile(c.issuerCA)
		if err != nil {
			return cfg, fmt.Errorf("--issuer-ca: %w", err)
		}
		cfg.Roots = x509.NewCertPool()
		if !cfg.Roots.AppendCertsFromPEM(pem) {
			return cfg, fmt.Errorf("--issuer-ca %s: no PEM certificate in it; pass the issuer's root.pem", c.issuerCA)
		}
	}
	if cfg.Issuer == "" {
		if st, err := agent.ReadIssuer(ctx, cfg.Storage); err == nil {
			cfg.Issuer = st
		}
	}
	if cfg.Issuer == "" {
		return cfg, usagef("--issuer is required to pair: the issuer's base URL, e.g. --issuer https://hub.lan.example:8443")
	}
	return cfg, nil
}

// newFlags returns a flag set whose --help prints usage to stdout.
func newFlags(name, usage string, stdout io.Writer) *flag.FlagSet {
	return cli.NewFlags(stdout, name, usage)
}

// parse parses args; other errors than --help, and arguments besides
// flags, become usage errors that name prog's help.
func parse(fs *flag.FlagSet, prog string, args []string) error {
	if err := cli.Parse(fs, prog, args); err != nil {
		return err
	}
	return cli.NoArgs(fs, prog)
}

// stringList is a repeatable flag that also takes comma-separated lists.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

func runAgent(ctx context.Context, prog string, args []string, stdout, stderr io.Writer) error {
	fs := newFlags(prog, prog+` --issuer URL [--issuer-ca FILE] [--data DIR] [mode flags]
       `+prog+` status [--json]    show names, expiry, next renewal, last error
       `+prog+` reset              revoke the certificate and wipe the state
       `+prog+` tpm-ak --tpm DEV   print the TPM's attestation key, for the maker to certify

Pairs the device with its owner (shows a code and a QR code to approve in
the issuer's UI), gets and renews its certificate, reports its addresses.
Modes: --proxy-to (TLS in front of a plain-HTTP UI), --cert-file and
--key-file (PEM files and an --on-renew hook), or neither (certificate kept
in --data). SIGUSR1 renews at once.`, stdout)
	var c common
	c.add(fs)
	var o options
	o.add(fs)
	var t tpmOptions
	t.add(fs)
	if err := parse(fs, prog, args); err != nil {
		return err
	}
	if err := c.conf.Apply(os.Getenv); err != nil {
		return usagef("%v", err)
	}
	if err := o.check(); err != nil {
		return err
	}
	if err := t.check(o.certFile != ""); err != nil {
		return err
	}
	cfg, err := c.config(ctx, stderr)
	if err != nil {
		return err
	}
	att, closeTPM, err := t.attester()
	if err != nil {
		return err
	}
	defer closeTPM()
	cfg.Attester = att
	cfg.Model = o.model
	cfg.Hostname = o.hostname
	cfg.NameCheck = o.nameCheck
	cfg.PairAgain = o.onUnpair == "pair"
	cfg.OnPairing = func(p agent.Pairing) { showPairing(stdout, p, o.onboardListen) }
	if ip, ok := listenIP(o.listen); ok && o.proxyTo != nil {
		// A proxy bound to one address is reachable at that one alone:
		// report no other, or the owner's links would lead nowhere.
		cfg.Addresses = func() ([]netip.Addr, error) { return []netip.Addr{ip}, nil }
	}
	if o.certFile != "" {
		f := &agent.Files{CertFile: o.certFile, KeyFile: o.keyFile, ChainFile: o.chainFile, Hook: o.onRenew, Logger: cfg.Logger}
		cfg.OnCertificate = f.Write
	}
	a, err := agent.New(cfg)
	if errors.Is(err, agent.ErrCorruptState) {
		return fmt.Errorf("%w; run '%s reset --force --data %s' to wipe it, then run again to pair", err, prog, c.data)
	}
	if err != nil {
		return err
	}
	err = serve(ctx, a, &o, cfg.Logger, stdout)
	switch {
	case errors.Is(err, agent.ErrUntrustedIssuer):
		return fmt.Errorf("%w; pass --issuer-ca with the issuer's root.pem", err)
	case errors.Is(err, agent.ErrLocked):
		return fmt.Errorf("%w (see '%s status --data %s')", err, prog, c.data)
	}
	return err
}

// serve runs the agent and the listeners of the chosen mode until ctx
// ends.
func serve(ctx context.Context, a *agent.Agent, o *options, log *slog.Logger, stdout io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	usr1 := make(chan os.Signal, 1)
	if renewSignal != nil { // Notify with no signal would relay them all
		signal.Notify(usr1, renewSignal)
		defer signal.Stop(usr1)
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-usr1:
				log.Info("SIGUSR1: renewing now")
				a.RenewNow()
			}
		}
	}()

	var servers []*http.Server
	listen := func(addr string, h http.Handler, tlsOn bool) (string, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return "", err
		}
		srv := newServer(h, log, tlsOn)
		if tlsOn {
			srv.TLSConfig = a.TLSConfig()
			go srv.ServeTLS(ln, "", "")
		} else {
			go srv.Serve(ln)
		}
		servers = append(servers, srv)
		return ln.Addr().String(), nil
	}
	defer func() {
		for _, s := range servers {
			s.Close()
		}
	}()

	httpsPort, loopbackOnly := "", false
	if o.proxyTo != nil {
		addr, err := listen(o.listen, proxy.New(o.proxyTo, o.allowOrigins, a), true)
		if err != nil {
			return fmt.Errorf("--listen: %w", err)
		}
		_, httpsPort, _ = net.SplitHostPort(addr)
		loopbackOnly = onLoopback(addr)
		a.SetHTTPSPort(httpsPort)
		fmt.Fprintf(stdout, "proxy: https on %s -> %s\n", addr, o.proxyTo)
		if o.httpListen != "" {
			addr, err := listen(o.httpListen, proxy.RedirectHTTPS(httpsPort), false)
			if err != nil {
				return fmt.Errorf("--http-listen: %w", err)
			}
			fmt.Fprintf(stdout, "redirect: http on %s -> https\n", addr)
		}
	}
	if o.onboardListen != "" {
		addr, err := listen(o.onboardListen, onboard.Handler(a, onboard.Config{HTTPSPort: httpsPort, Names: o.onboardNames()}), false)
		if err != nil {
			return fmt.Errorf("--onboard-listen: %w", err)
		}
		fmt.Fprintf(stdout, "onboarding page: http://%s/\n", addr)
	}
	switch {
	case o.mdns && o.proxyTo != nil && loopbackOnly:
		log.Info("mDNS: not announcing a proxy that listens on loopback only", "listen", o.listen)
	case o.mdns && o.proxyTo != nil:
		go announceWhenReady(ctx, a, httpsPort, o.mdnsInterface, log)
	}
	// The listeners are bound: systemd may start what depends on the agent.
	if err := sdnotify.Notify(os.Getenv("NOTIFY_SOCKET"), sdnotify.Ready); err != nil {
		log.Warn("telling systemd the agent is ready", "err", err)
	}
	go printServing(ctx, a, stdout)
	return a.Run(ctx)
}

// printServing prints a line for every certificate the agent starts
// serving: the first, each renewal, and the first after pairing again.
func printServing(ctx context.Context, a *agent.Agent, stdout io.Writer) {
	select {
	case <-a.Ready():
	case <-ctx.Done():
		return
	}
	var last *tls.Certificate
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		// The certificate itself, not Status: Ready closes before the
		// status records the new serial.
		if c := a.Certificate(); c != nil && c != last {
			last = c
			fmt.Fprintf(stdout, "serving certificate %x for %s, valid until %s\n", c.Leaf.SerialNumber, strings.Join(c.Leaf.DNSNames, ", "), timeString(c.Leaf.NotAfter))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// onLoopback reports whether a listener bound to addr is reachable only
// from the device itself, which is nothing to announce on the LAN.
// listenIP is the one address a listen address binds, if it names one
// (not a wildcard, not a host name).
func listenIP(addr string) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.IsUnspecified() || ip.Zone() != "" {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}

func onLoopback(addr string) bool {
	ap, err := netip.ParseAddrPort(addr)
	return err == nil && ap.Addr().IsLoopback()
}

// Server timeouts: every server reads headers within readHeader and
// closes idle keep-alive connections, which would otherwise hold file
// descriptors forever; the proxy allows long request bodies (uploads to
// the device UI), the pages short ones. No write timeout: responses
// stream, and WebSockets (hijacked, so their deadlines are cleared) live
// long.
const (
	readHeaderTimeout = 10 * time.Second
	pageReadTimeout   = 30 * time.Second
	proxyReadTimeout  = 10 * time.Minute
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
)

// newServer is an HTTP server for h with the agent's timeouts; proxy
// says whether it is the proxy.
func newServer(h http.Handler, log *slog.Logger, proxy bool) *http.Server {
	read := pageReadTimeout
	if proxy {
		read = proxyReadTimeout
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       read,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}

func showPairing(w io.Writer, p agent.Pairing, onboard string) {
	fmt.Fprintf(w, "\nTo secure this device, approve it in your lantls issuer:\n\n  code         %s\n  open         %s\n  fingerprint  %s  (the approval page shows the same)\n\n",
		p.UserCode, p.VerificationURIComplete, p.Fingerprint)
	qrterminal.GenerateHalfBlock(p.VerificationURIComplete, qrterminal.L, w)
	if onboard != "" {
		fmt.Fprintf(w, "\nThe onboarding page on %s shows the same.\n", onboard)
	}
	fmt.Fprintf(w, "Waiting for approval (the code expires at %s)...\n", timeString(p.Expires))
}

func runStatus(ctx context.Context, prog string, args []string, stdout, stderr io.Writer) error {
	fs := newFlags(prog+" status", prog+" status [--data DIR] [--json]", stdout)
	var c common
	c.add(fs)
	asJSON := fs.Bool("json", false, "print one JSON object")
	c.conf.SkipUnknown = true // the agent's file: its data dir
	if err := parse(fs, prog+" status", args); err != nil {
		return err
	}
	if err := c.conf.Apply(os.Getenv); err != nil {
		return usagef("%v", err)
	}
	storage := agent.DirStorage(c.data)
	st, err := agent.ReadStatus(ctx, storage)
	switch {
	case errors.Is(err, agent.ErrCorruptState):
		return fmt.Errorf("%w; run '%s reset --force --data %s' to wipe it, then pair again", err, prog, c.data)
	case errors.Is(err, agent.ErrNotPaired):
		return fmt.Errorf("%w; pair first by running '%s --issuer URL --data %s'", err, prog, c.data)
	case err != nil:
		return err
	}
	running := isRunning(ctx, storage)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			*agent.Status
			Running bool `json:"running"`
		}{st, running})
	}
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(stdout, "%-13s %s\n", k, v)
		}
	}
	row("agent", map[bool]string{true: "running", false: "not running"}[running])
	row("issuer", st.Issuer)
	row("label", st.Label)
	row("fingerprint", st.Fingerprint)
	if p := st.Pairing; p != nil && (running || p.Expires.IsZero() || time.Now().Before(p.Expires)) {
		row("pairing", "waiting for the owner's approval")
		row("code", p.UserCode)
		row("approve at", p.VerificationURIComplete)
		row("code expires", timeString(p.Expires))
	} else if p != nil {
		row("pairing", "not finished; the code expired, and the next run shows a new one")
	}
	row("names", strings.Join(st.Names, ", "))
	row("serial", st.Serial)
	row("expires", timeString(st.NotAfter))
	row("next renewal", timeString(st.NextRenewal)+sourceString(st.RenewalSource))
	row("last renewal", timeString(st.LastRenewal))
	row("addresses", strings.Join(st.Addresses, " "))
	if st.Serial != "" {
		for _, u := range st.URLs() {
			row("url", u)
		}
	}
	row("failures", fmt.Sprint(st.Failures))
	if st.LastError != "" {
		row("last error", st.LastError+" (at "+timeString(st.LastErrorAt)+")")
	} else {
		row("last error", "none")
	}
	return nil
}

// isRunning reports whether an agent holds the lock of storage.
func isRunning(ctx context.Context, storage agent.DirStorage) bool {
	unlock, err := storage.Lock(ctx)
	if err != nil {
		return errors.Is(err, agent.ErrLocked)
	}
	unlock()
	return false
}

func runReset(ctx context.Context, prog string, args []string, stdout, stderr io.Writer) error {
	fs := newFlags(prog+" reset", prog+" reset [--data DIR] [--force]", stdout)
	var c common
	c.add(fs)
	force := fs.Bool("force", false, "wipe the state even if the certificate cannot be revoked, or the state is damaged")
	c.conf.SkipUnknown = true // the agent's file: its data dir
	if err := parse(fs, prog+" reset", args); err != nil {
		return err
	}
	if err := c.conf.Apply(os.Getenv); err != nil {
		return usagef("%v", err)
	}
	storage := agent.DirStorage(c.data)
	_, err := agent.ReadIssuer(ctx, storage)
	switch {
	case errors.Is(err, agent.ErrNotPaired):
		// Nothing was issued: nothing to revoke.
		return wipe(ctx, storage, stdout, c.data)
	case errors.Is(err, agent.ErrCorruptState) && *force:
		fmt.Fprintf(stderr, "%s: %v; nothing can be revoked, wiping\n", prog, err)
		return wipe(ctx, storage, stdout, c.data)
	case errors.Is(err, agent.ErrCorruptState):
		return fmt.Errorf("%w; pass --force to wipe it (the certificate cannot be revoked from a damaged state)", err)
	case err != nil:
		return err
	}
	cfg, err := c.config(ctx, stderr)
	if err != nil {
		return err
	}
	a, err := agent.New(cfg)
	if err != nil {
		return err
	}
	serial := a.Status().Serial
	revoked, err := a.Reset(ctx, *force)
	if errors.Is(err, agent.ErrLocked) {
		return fmt.Errorf("%w; stop the agent first", err)
	}
	if err != nil {
		return fmt.Errorf("%w; check that the issuer is reachable, or pass --force to wipe anyway", err)
	}
	switch {
	case revoked != "":
		fmt.Fprintf(stdout, "revoked certificate %s\n", revoked)
	case serial != "":
		fmt.Fprintf(stdout, "certificate %s NOT revoked (the issuer could not be reached); ask the owner to revoke it in the issuer's UI\n", serial)
	}
	fmt.Fprintf(stdout, "wiped %s; the next run pairs again\n", c.data)
	return nil
}

func wipe(ctx context.Context, storage agent.DirStorage, stdout io.Writer, dir string) error {
	if err := agent.Wipe(ctx, storage); err != nil {
		if errors.Is(err, agent.ErrLocked) {
			return fmt.Errorf("%w; stop the agent first", err)
		}
		return err
	}
	fmt.Fprintf(stdout, "wiped %s; the next run pairs again\n", dir)
	return nil
}

func timeString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format(time.DateTime + " MST")
}

func sourceString(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

// options are the mode flags of a run.
type options struct {
	model, hostname                       string
	proxyToRaw                            string
	proxyTo                               *url.URL
	listen, httpListen, onboardListen     string
	allowOrigins                          stringList
	certFile, keyFile, chainFile, onRenew string
	mdns                                  bool
	mdnsInterface                         string
	onUnpair                              string
	onboardHosts                          stringList
	nameCheck                             string
}

// onboardNames are the names the onboarding page answers to: the host
// name, HOSTNAME.local (mDNS) and --onboard-host.
func (o *options) onboardNames() []string {
	hn := o.hostname
	if hn == "" {
		hn, _ = os.Hostname()
	}
	names := slices.Clone([]string(o.onboardHosts))
	if hn != "" {
		names = append(names, hn, hn+".local")
	}
	return names
}

func (o *options) add(fs *flag.FlagSet) {
	fs.StringVar(&o.model, "model", "", "device `model` shown to the owner when approving")
	fs.StringVar(&o.hostname, "hostname", "", "`name` shown to the owner when approving (default: the host name)")
	fs.StringVar(&o.proxyToRaw, "proxy-to", "", "proxy mode: forward HTTPS to this plain-HTTP `URL`, e.g. http://127.0.0.1:8080")
	fs.StringVar(&o.listen, "listen", defaultListen(), "proxy mode: HTTPS `address`")
	fs.StringVar(&o.httpListen, "http-listen", "", "proxy mode: plain-HTTP `address` that redirects to HTTPS (e.g. :80)")
	fs.Var(&o.allowOrigins, "allow-origin", "proxy mode: web `origin` allowed to call the device (CORS), besides those the owner grants; repeatable")
	fs.StringVar(&o.certFile, "cert-file", "", "files mode: write the certificate and intermediates here (PEM)")
	fs.StringVar(&o.keyFile, "key-file", "", "files mode: write the TLS key here (PEM, mode 0600)")
	fs.StringVar(&o.chainFile, "chain-file", "", "files mode: write the intermediates alone here (PEM)")
	fs.StringVar(&o.onRenew, "on-renew", "", "files mode: shell `command` run once after each new certificate is written, e.g. 'systemctl reload nginx'")
	fs.StringVar(&o.onboardListen, "onboard-listen", "", "plain-HTTP `address` of the onboarding page (code, QR code, 'Secure this device' link)")
	fs.BoolVar(&o.mdns, "mdns", true, "proxy mode: announce the device over mDNS/DNS-SD as _https._tcp")
	fs.StringVar(&o.mdnsInterface, "mdns-interface", "", "announce on this `interface` (default: the system's default multicast interface)")
	fs.Var(&o.onboardHosts, "onboard-host", "host `name` the onboarding page answers to besides the device's IP addresses, the host name and HOSTNAME.local; repeatable")
	fs.StringVar(&o.nameCheck, "name-check", agent.NameCheckSystem, "DNS `resolver` (IP:PORT) through which to check that the device's names resolve, reporting a router's DNS-rebind filter to the issuer; system: /etc/resolv.conf's; off: no check")
	fs.StringVar(&o.onUnpair, "on-unpair", "pair", "what to do when the owner unpairs the device (its state is wiped either way): `pair` again with a new code, or exit")
}

func (o *options) check() error {
	if o.proxyToRaw != "" {
		u, err := url.Parse(o.proxyToRaw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usagef("--proxy-to %q: give the device UI's URL, e.g. http://127.0.0.1:8080", o.proxyToRaw)
		}
		o.proxyTo = u
	}
	switch {
	case o.nameCheck == "off":
		o.nameCheck = ""
	case o.nameCheck != agent.NameCheckSystem:
		if _, err := netip.ParseAddrPort(o.nameCheck); err != nil {
			return usagef("--name-check %q: use system, off or a resolver's IP:PORT such as 192.168.1.1:53", o.nameCheck)
		}
	}
	if o.onUnpair != "pair" && o.onUnpair != "exit" {
		return usagef("--on-unpair %q: use pair or exit", o.onUnpair)
	}
	if (o.certFile == "") != (o.keyFile == "") {
		return usagef("files mode needs both --cert-file and --key-file")
	}
	if o.certFile == "" && (o.chainFile != "" || o.onRenew != "") {
		return usagef("--chain-file and --on-renew belong to files mode: add --cert-file and --key-file")
	}
	return nil
}

func defaultListen() string {
	if os.Geteuid() == 0 {
		return ":443"
	}
	return ":8443"
}
