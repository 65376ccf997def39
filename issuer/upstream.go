package issuer

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	mrand "math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/lantls/lantls/ca"
	"github.com/lantls/lantls/ca/upstream"
	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/internal/atomicfile"
	"github.com/lantls/lantls/names"
)

// UpstreamConfig configures the upstream signer (Config.Signer
// "upstream"): the issuer brokers device CSRs to a public ACME CA.
type UpstreamConfig struct {
	Directory string // the upstream CA's ACME directory URL
	EABKID    string // external account binding at the upstream, if it wants one
	EABHMAC   string // base64url
	// CABundle is a PEM file of the roots that verify the upstream's
	// HTTPS; empty means the system's.
	CABundle string
	Profile  string // the upstream profile to ask for; empty: its default
	// Limits are the issuer's own budgets at the upstream.
	Limits upstream.Limits
	// ARIPoll is how often the issuer asks the upstream's ARI window for
	// its own certificate; 0 means every 6 hours, as ARI servers ask.
	ARIPoll time.Duration
	// DNSServer is where the signer checks that its TXT records are
	// served before it answers a challenge; empty means the issuer's own
	// DNS server (DNSListen), and no check without one.
	DNSServer string
}

// upstreamDir is where, in the data dir, the upstream account key lives.
const upstreamDir = "upstream"

// openUpstream makes the upstream signer and tries once, briefly, to
// register its account so that the operator sees its URL at start; an
// upstream that cannot be reached yet is retried by the queue.
func (iss *Issuer) openUpstream(ctx context.Context) (*upstream.Signer, error) {
	cfg := iss.cfg.Upstream
	var roots *x509.CertPool
	if cfg.CABundle != "" {
		b, err := os.ReadFile(cfg.CABundle)
		if err != nil {
			return nil, fmt.Errorf("upstream CA bundle: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("upstream CA bundle %s holds no PEM certificate", cfg.CABundle)
		}
	}
	var exclusive func(context.Context, string, func() error) error
	if iss.shared != nil {
		exclusive = iss.shared.Exclusive
	}
	s, err := upstream.New(upstream.Config{
		Exclusive:  exclusive,
		Registerer: iss.registry,
		Directory:  cfg.Directory,
		EABKID:     cfg.EABKID,
		EABHMAC:    cfg.EABHMAC,
		Roots:      roots,
		Profile:    cfg.Profile,
		Dir:        filepath.Join(iss.cfg.DataDir, upstreamDir),
		Store:      iss.store,
		Record:     devices.RecordCertificate,
		Zone:       iss.cfg.Zone,
		DNSServer:  iss.ownDNSServer(),
		Limits:     cfg.Limits,
		Keys:       iss.cfg.Keys,
		Logger:     iss.cfg.Logger,
		Now:        iss.cfg.Now,
	})
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := s.Register(rctx); err != nil {
		iss.cfg.Logger.Warn("upstream account not registered yet; the queue tries again", "err", err)
	}
	return s, nil
}

// ownDNSServer is where the upstream signer asks for its TXT records: the
// configured server, else the issuer's own, on loopback when it listens
// on every address.
func (iss *Issuer) ownDNSServer() string {
	if iss.cfg.Upstream.DNSServer != "" || iss.dns == nil {
		return iss.cfg.Upstream.DNSServer
	}
	ap := iss.dns.Addr()
	if ap.Addr().IsUnspecified() {
		lo := netip.MustParseAddr("127.0.0.1")
		if ap.Addr().Is6() && !ap.Addr().Is4In6() {
			lo = netip.IPv6Loopback()
		}
		ap = netip.AddrPortFrom(lo, ap.Port())
	}
	return ap.String()
}

// ownZoneNames are the issuer's hostnames inside its zone: the names an
// upstream CA can validate with dns-01 in the issuer's own DNS.
func (iss *Issuer) ownZoneNames() []string {
	var out []string
	for _, h := range iss.cfg.Hostnames {
		n, err := names.Normalize(h)
		if err == nil && strings.HasSuffix(n, "."+iss.cfg.Zone) && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// Files of the issuer's own upstream certificate, in the data dir.
const (
	tlsDir      = "tls"
	tlsKeyFile  = "key.pem"
	tlsCertFile = "cert.pem"
)

// upstreamTLSLoop gets the issuer's own HTTPS certificate from the
// upstream CA for its hostnames inside the zone, and renews it inside
// the upstream's ARI window (RFC 9773), each time swapping it in
// without a restart, until ctx is done. Clients that ask for another
// name (an IP address, localhost) keep getting the local root's
// certificate. The key and certificate are kept in the data dir, so a
// restart does not order again.
func (iss *Issuer) upstreamTLSLoop(ctx context.Context, hosts []string) {
	dir := filepath.Join(iss.cfg.DataDir, tlsDir)
	key, err := upstream.LoadOrMakeKey(filepath.Join(dir, tlsKeyFile))
	if err != nil {
		iss.cfg.Logger.Error("issuer TLS key", "err", err)
		return
	}
	if c, err := tls.LoadX509KeyPair(filepath.Join(dir, tlsCertFile), filepath.Join(dir, tlsKeyFile)); err == nil && coversAll(c.Leaf, hosts) {
		iss.upstreamCert.Store(&c)
	}
	backoff := time.Minute
	for {
		wait := time.Duration(0)
		if c := iss.upstreamCert.Load(); c != nil {
			wait = iss.renewAt(ctx, c.Leaf).Sub(iss.cfg.Now())
		}
		if wait > 0 {
			t := time.NewTimer(min(wait, iss.ariPoll()))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			if iss.renewAt(ctx, iss.upstreamCert.Load().Leaf).After(iss.cfg.Now()) {
				continue
			}
		}
		if err := iss.obtainOwnCert(ctx, key, hosts); err != nil {
			if ctx.Err() != nil {
				return
			}
			iss.cfg.Logger.Error("issuer certificate from the upstream CA failed; trying again", "names", hosts, "in", backoff, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Hour)
			continue
		}
		backoff = time.Minute
	}
}

func (iss *Issuer) ariPoll() time.Duration {
	if p := iss.cfg.Upstream.ARIPoll; p > 0 {
		return p
	}
	return 6 * time.Hour
}

// renewAt is a random time inside the upstream's renewal window of leaf,
// or, when the upstream does not say, a third of its lifetime before it
// ends.
func (iss *Issuer) renewAt(ctx context.Context, leaf *x509.Certificate) time.Time {
	start, end, err := iss.upstream.AskRenewalWindow(ctx, leaf.Raw)
	if err != nil || !start.Before(end) {
		return leaf.NotAfter.Add(-leaf.NotAfter.Sub(leaf.NotBefore) / 3)
	}
	return start.Add(mrand.N(end.Sub(start)))
}

// obtainOwnCert gets a certificate for hosts with key from the upstream,
// as a renewal (ARI replaces) of the current one if there is one, stores
// it and swaps it in.
func (iss *Issuer) obtainOwnCert(ctx context.Context, key crypto.Signer, hosts []string) error {
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: hosts}, key)
	if err != nil {
		return err
	}
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return err
	}
	req := ca.Request{CSR: csr, Names: hosts}
	if cur := iss.upstreamCert.Load(); cur != nil {
		req.Replaces = cur.Leaf.Raw
	}
	issued, err := iss.upstream.Sign(ctx, req)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	c, err := tls.X509KeyPair(issued.ChainPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		return fmt.Errorf("upstream certificate does not match the key: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(iss.cfg.DataDir, tlsDir, tlsCertFile), issued.ChainPEM, 0o600); err != nil {
		return err
	}
	iss.upstreamCert.Store(&c)
	iss.cfg.Logger.Info("issuer certificate from the upstream CA in use", "names", hosts, "not_after", c.Leaf.NotAfter)
	return nil
}

func coversAll(leaf *x509.Certificate, hosts []string) bool {
	if leaf == nil || time.Now().After(leaf.NotAfter) {
		return false
	}
	for _, h := range hosts {
		if leaf.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}
