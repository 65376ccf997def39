package main

import (
	"context"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/lantls/lantls/ca/local"
	"github.com/lantls/lantls/ca/upstream"
	"github.com/lantls/lantls/dnsserver"
	"github.com/lantls/lantls/internal/clientaddr"
	"github.com/lantls/lantls/internal/flagfile"
	"github.com/lantls/lantls/internal/sdnotify"
	"github.com/lantls/lantls/issuer"
	"github.com/lantls/lantls/ratelimit"
)

func runIssuer(ctx context.Context, e *env, args []string) error {
	d := issuer.Defaults
	fs := newFlags(e, "issuer", "lantls issuer [flags]")
	cfg := issuer.Config{Hostnames: append([]string(nil), d.Hostnames...), Limits: d.Limits}
	fs.StringVar(&cfg.DataDir, "data", d.DataDir, "data `dir`: database, CA keys (0600) and issuer.json")
	fs.StringVar(&cfg.Zone, "zone", d.Zone, "DNS `zone` device names live in; the CA is constrained to it")
	fs.StringVar(&cfg.Listen, "listen", d.Listen, "HTTPS listen `address` (port 0 picks a free port)")
	fs.Var((*stringList)(&cfg.Hostnames), "hostname", "comma-separated `names` in the issuer's own certificate, besides the listen IP; the first is the web UI's passkey relying party ID")
	fs.StringVar(&cfg.BaseURL, "base-url", "", "`URL` clients use to reach the issuer (default https://LISTEN)")
	fs.StringVar(&cfg.HTTPListen, "http-listen", d.HTTPListen, "plain HTTP listen `address` for the CRL, intermediate and root (:80 in production; empty: none)")
	fs.StringVar(&cfg.HTTPBaseURL, "http-base-url", "", "plain HTTP `URL` new certificates name for their CRL and intermediate (default http://HTTP-LISTEN)")
	fs.StringVar(&cfg.Signer, "signer", d.Signer, "certificate `signer`: local (built-in name-constrained CA) or upstream (a public ACME CA, --upstream-*)")
	fs.StringVar(&cfg.Store, "store", "", "`URL` of a PostgreSQL database several issuers share (postgres://user:password@host:port/db); default SQLite in the data dir")
	fs.StringVar(&cfg.CADir, "ca-dir", "", "`dir` of the CA's certificates and the intermediate's key (default DATA/ca); issuers sharing a --store need the same files")
	fs.StringVar(&cfg.RootKeyFile, "root-key-out", "", "`file` the first start writes the new CA's root key to, outside --data, for you to move off the machine (default DATA-root.key)")
	rootKeyPass := fs.String("root-key-passphrase-file", "", "encrypt the root key the first start writes with the first line of this `file`")
	fs.Var((*stringList)(&cfg.CAPermit), "ca-permit", "comma-separated DNS `names`, IP addresses or CIDR prefixes a new CA's root permits besides the zone, the --hostname names and the listen IP (only when the CA is made)")
	fs.StringVar(&cfg.AttestRoots, "attest-roots", "", "`dir` of PEM roots (*.pem, *.crt) of device makers or attestation CAs that device-attest-01 statements must chain to; rules per model: 'lantls admin attest'")
	fs.StringVar(&cfg.MetricsListen, "metrics-listen", "", "plain HTTP listen `address` that serves /metrics alone, e.g. 127.0.0.1:9464 (default: /metrics on the HTTPS listener, to loopback clients only)")
	fs.Func("trusted-proxy", "comma-separated `addresses` or CIDR prefixes of load balancers and reverse proxies whose X-Forwarded-For (and, with --proxy-protocol, PROXY v2 header) names the client for per-source limits", func(v string) error {
		ps, err := clientaddr.ParseProxies(v)
		cfg.TrustedProxies = append(cfg.TrustedProxies, ps...)
		return err
	})
	fs.BoolVar(&cfg.ProxyProtocol, "proxy-protocol", false, "connections from --trusted-proxy addresses to the HTTPS listener start with a PROXY protocol v2 header")
	addLimitFlags(fs, &cfg.Limits)
	fs.IntVar(&cfg.MaxDevicesPerOwner, "max-devices-per-owner", d.MaxDevicesPerOwner, "at most `N` active devices per owner, paired or added in the web UI (0: no limit; 'lantls admin device add' is not limited)")
	addUpstreamFlags(fs, &cfg)
	addDNSFlags(fs, &cfg, d.DNSListen)
	hub := fs.Bool("hub", false, "preset for a router, NAS or home server inside an isolated LAN: the local signer, a zone unique to this hub under home.arpa, HTTPS, HTTP and DNS on the standard ports of the LAN address, the setup link as a QR code; any flag given explicitly wins")
	pprofAddr := fs.String("pprof", "", "serve Go profiles (net/http/pprof) on this `address`, e.g. 127.0.0.1:6060; keep it private")
	logFlags := addLogFlags(fs, "info")
	conf := flagfile.Add(fs, envPrefix)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	if err := conf.Apply(os.Getenv); err != nil {
		return usagef("%v", err)
	}
	if *rootKeyPass != "" {
		pass, err := passphrase(e, *rootKeyPass, false, false)
		if err != nil {
			return usagef("--root-key-passphrase-file: %v", err)
		}
		cfg.RootKeyPassphrase = pass
	}
	var hubIP netip.Addr
	if *hub {
		ip, err := applyHub(fs, &cfg)
		if err != nil {
			return err
		}
		hubIP = ip
	}
	if *pprofAddr != "" {
		if err := servePprof(ctx, *pprofAddr); err != nil {
			return err
		}
	}
	logger, err := logFlags.logger(e)
	if err != nil {
		return err
	}
	cfg.Logger = logger
	// The issuer's live Go heap is a few MB (SQLite's page caches are
	// outside it) while it allocates some 100 KB per issuance, so at
	// Go's default the collector would run a dozen times a second under
	// load, 4% of the CPU. A quarter as often costs a few MB more memory,
	// except on a hub, where memory is what is short: after pairing 100
	// devices GOGC=400 held 75 MB, GOGC=100 38 MB (bench/hub.sh).
	if os.Getenv("GOGC") == "" {
		if *hub {
			debug.SetGCPercent(100)
		} else {
			debug.SetGCPercent(400)
		}
	}
	iss, err := issuer.New(ctx, cfg)
	if err != nil {
		return withFlagAdvice(err)
	}
	info := iss.Info()
	dns := info.DNS + " (UDP and TCP)"
	if info.DNS == "" {
		dns = "off"
	}
	fmt.Fprintf(e.stdout, `lantls issuer is ready
  web UI     %s
  directory  %s
  root       %s
  zone       %s
  dns        %s
  crl        %s/ca/crl
  health     %s/healthz
  metrics    %s/metrics

Add a device:  lantls admin --data %s device add --owner NAME --name "Living room TV"
`, iss.UIURL(), info.Directory, info.Root, info.Zone, dns, info.FilesURL, info.BaseURL, info.BaseURL, shellQuote(cfg.DataDir))
	printTrust(e, iss, info)
	if u := iss.SetupURL(); u != "" {
		fmt.Fprintf(e.stdout, `
No user can log in yet. Create the first (an admin) at this one-time link:
  %s
or: lantls admin --data %s user add NAME --admin
`, u, shellQuote(cfg.DataDir))
	}
	if *hub {
		printHub(e.stdout, info, hubIP, iss.SetupURL())
	}
	printNewRootKey(e, iss.NewRootKey())
	printUpstream(e, cfg, info)
	notify := os.Getenv("NOTIFY_SOCKET")
	if err := sdnotify.Notify(notify, sdnotify.Ready+"\nSTATUS=serving "+info.Directory); err != nil {
		logger.Warn("telling systemd the issuer is ready", "err", err)
	}
	stop := context.AfterFunc(ctx, func() { sdnotify.Notify(notify, sdnotify.Stopping) })
	defer stop()
	return iss.Run(ctx)
}

// printNewRootKey tells the operator where the first start put the root
// key, and what to do with it.
func printNewRootKey(e *env, path string) {
	if path == "" {
		return
	}
	fmt.Fprintf(e.stdout, `
A new CA was made. Its root key is in
  %s
The issuer never reads it. Move it off this machine (a USB stick, a password
manager); it is needed only to make a new intermediate before this one
expires: lantls ca rotate-intermediate --root-key FILE.
`, path)
}

// printTrust tells the operator to trust the root before opening the UI,
// where to get it without a certificate warning (plain HTTP) and the
// fingerprint to check it by.
func printTrust(e *env, iss *issuer.Issuer, info issuer.Info) {
	root := info.FilesURL + "/ca/root.crt"
	fp := "?"
	if b, _ := pem.Decode(iss.RootPEM()); b != nil {
		sum := sha256.Sum256(b.Bytes)
		fp = local.Fingerprint(sum[:])
	}
	fmt.Fprintf(e.stdout, `
Trust the root first, on each computer or phone that opens the web UI or a
device, or the browser warns. Get it here, and check its SHA-256
fingerprint before you trust it:
  %s
  SHA-256 %s
%strust shows how to install it on each system.
`, root, fp, iss.UIURL())
}

// envPrefix starts the environment variable of each flag of the issuer
// and admin (LANTLS_ZONE for --zone), read by internal/flagfile.
const envPrefix = "LANTLS_"

// issuerFlags names the flag of each issuer.Config field.
var issuerFlags = map[string]string{
	"DataDir":     "--data",
	"Zone":        "--zone",
	"Listen":      "--listen",
	"HTTPListen":  "--http-listen",
	"HTTPBaseURL": "--http-base-url",
	"Signer":      "--signer",
	"CADir":       "--ca-dir",
	"RootKeyFile": "--root-key-out",
	"Store":       "--store",

	"MetricsListen": "--metrics-listen",
	"ProxyProtocol": "--trusted-proxy",

	"Upstream.Directory": "--upstream-directory",
	"TLSCert":            "--tls-cert and --tls-key",
	"DNSListen":          "--dns-listen, --dns-ns, --caa or --dns-allow",
}

// withFlagAdvice adds to a configuration error which flag to change.
func withFlagAdvice(err error) error {
	var ce *issuer.ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	if flag, ok := issuerFlags[ce.Field]; ok {
		return fmt.Errorf("%w (change it with %s)", err, flag)
	}
	return err
}

// addLimitFlags adds one flag per rate limit, named after the limit.
func addLimitFlags(fs *flag.FlagSet, l *ratelimit.Limits) {
	for _, f := range []struct {
		lim  *ratelimit.Limit
		what string
	}{
		{&l.OrdersPerAccount, "new orders per ACME account"},
		{&l.CertificatesPerDevice, "certificates per device"},
		{&l.AccountsPerSource, "new ACME accounts per client address (IPv6: per /64)"},
		{&l.FailedPairingsPerSource, "failed pairings of devices (registrations with a wrong or used EAB key, unknown device codes) per client address; past it the address cannot register or start pairing"},
		{&l.FailedCodesPerSource, "wrong pairing codes entered by owners per client address; past it the address cannot enter codes"},
		{&l.FailedCodesPerUser, "wrong pairing codes per logged-in user; past it the user cannot enter codes"},
		{&l.PairingsPerSource, "pairing requests (RFC 8628 device authorizations) per client address"},
		{&l.DeviceWritesPerDevice, "device API writes (changed address reports, status reports, token rotations) per device"},
	} {
		fs.Var(f.lim, "limit-"+f.lim.Name, "at most `COUNT/PERIOD` "+f.what+" (e.g. 300/1h), or off")
	}
	fs.IntVar(&l.OpenOrdersPerAccount, "limit-open-orders-per-account", l.OpenOrdersPerAccount, "at most `N` unexpired unfinished orders per ACME account (0: no cap)")
}

// servePprof serves the runtime profiles on their own listener, never on
// the issuer's public one.
func servePprof(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--pprof %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	context.AfterFunc(ctx, func() { srv.Close() })
	return nil
}

// logFlags are the flags every long-running command shares.
type logFlags struct {
	format string
	level  string
}

func addLogFlags(fs *flag.FlagSet, level string) *logFlags {
	l := &logFlags{}
	fs.StringVar(&l.format, "log-format", "text", "log `format` on stderr: text or json")
	fs.StringVar(&l.level, "log-level", level, "log `level`: debug, info, warn or error")
	return l
}

func (l *logFlags) logger(e *env) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.level)); err != nil {
		return nil, usagef("--log-level %q: use debug, info, warn or error", l.level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch l.format {
	case "text":
		return slog.New(slog.NewTextHandler(e.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(e.stderr, opts)), nil
	}
	return nil, usagef("--log-format %q: use text or json", l.format)
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@,+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// addUpstreamFlags adds the flags of the upstream signer and of the
// issuer's own certificate.
func addUpstreamFlags(fs *flag.FlagSet, cfg *issuer.Config) {
	u := &cfg.Upstream
	u.Limits = upstream.DefaultLimits
	fs.StringVar(&u.Directory, "upstream-directory", "", "ACME directory `URL` of the public CA the upstream signer brokers to")
	fs.StringVar(&u.EABKID, "upstream-eab-kid", "", "external account binding key `ID` at the upstream CA, if it requires one")
	fs.StringVar(&u.EABHMAC, "upstream-eab-hmac", "", "external account binding HMAC `key` (base64url) at the upstream CA; keep it off the command line with upstream-eab-hmac-file in --config or LANTLS_UPSTREAM_EAB_HMAC_FILE")
	fs.StringVar(&u.CABundle, "upstream-ca-bundle", "", "PEM `file` of the roots that verify the upstream CA's HTTPS (default: the system's)")
	fs.StringVar(&u.Profile, "upstream-profile", "", "certificate profile `name` to ask the upstream CA for (default: its default)")
	fs.StringVar(&u.Limits.RegisteredDomain, "upstream-registered-domain", "", "`domain` the upstream counts certificates under (default: the zone, right when it is on the Public Suffix List)")
	for _, f := range []struct {
		lim  *ratelimit.Limit
		what string
	}{
		{&u.Limits.CertificatesPerDomain, "new upstream certificates per registered domain"},
		{&u.Limits.OrdersPerAccount, "new upstream orders of the upstream account"},
		{&u.Limits.DuplicateCertificates, "upstream certificates for the same names"},
		{&u.Limits.CertificatesPerOwner, "new upstream certificates for the devices of one owner, that owner's share of the domain's"},
	} {
		fs.Var(f.lim, "limit-"+f.lim.Name, "at most `COUNT/PERIOD` "+f.what+" (ARI renewals exempt; past it work waits), or off")
	}
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "PEM `file` of the issuer's HTTPS certificate chain, reloaded when it changes (default: the issuer makes its own)")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "PEM `file` of the key of --tls-cert")
}

// printUpstream tells the operator what to publish for the upstream CA.
func printUpstream(e *env, cfg issuer.Config, info issuer.Info) {
	if cfg.Signer != "upstream" {
		return
	}
	if info.UpstreamAccount == "" {
		fmt.Fprintf(e.stdout, "\nThe upstream CA at %s could not be reached yet; the issuer keeps trying.\n", cfg.Upstream.Directory)
		return
	}
	fmt.Fprintf(e.stdout, `
Upstream account  %s
Publish in the zone's CAA (RFC 8657), with the CA's own issuer domain:
  %s. CAA 0 issue "CA-DOMAIN; accounturi=%s; validationmethods=dns-01"
`, info.UpstreamAccount, info.Zone, info.UpstreamAccount)
}

// addDNSFlags adds the flags of the zone's DNS server.
func addDNSFlags(fs *flag.FlagSet, cfg *issuer.Config, listen string) {
	fs.StringVar(&cfg.DNSListen, "dns-listen", listen, "DNS listen `address`, UDP and TCP (:53 in production; port 0 picks a free port; empty: no DNS)")
	fs.Func("dns-ns", "name server `NAME[=ADDR,...]` of the zone, repeatable; addresses of names inside the zone are served as glue (default ns.ZONE=DNS-LISTEN-IP)", func(s string) error {
		ns, err := dnsserver.ParseNameServer(s)
		cfg.DNS.NS = append(cfg.DNS.NS, ns)
		return err
	})
	fs.Func("caa", "CAA `record` at the apex, repeatable (RFC 8659): 'ca.example; accounturi=URL; validationmethods=dns-01', 'issuewild ;' or '0 iodef mailto:...'", func(s string) error {
		c, err := dnsserver.ParseCAA(s)
		cfg.DNS.CAA = append(cfg.DNS.CAA, c)
		return err
	})
	fs.Func("dns-allow", "`CIDR` address-names and device addresses may point into, repeatable; replaces the default (RFC 1918, RFC 6598, loopback, link-local, ULA)", func(s string) error {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return fmt.Errorf("%q is not a CIDR prefix such as 192.168.0.0/16", s)
		}
		cfg.DNS.Allow = append(cfg.DNS.Allow, p)
		return nil
	})
	fs.Func("dns-rrl", "UDP `responses` per second per source prefix (IPv4 /24, IPv6 /56) before response rate limiting drops or truncates them, or off (default 100)", func(s string) error {
		r, err := dnsserver.ParseRRL(s)
		cfg.DNS.RRL = r
		return err
	})
}
