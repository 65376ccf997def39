package issuer

import (
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lantls/lantls/ca/local"
	"github.com/lantls/lantls/store"
)

// routes builds the issuer's HTTP handler: the ACME front end under /acme/,
// pairing (RFC 8628) under /pair/, the device API (package deviceserver)
// under /api/v1/device/,
// the CA's public files under /ca/, /healthz and /metrics, and the owner
// UI (package web) for every other path.
func (iss *Issuer) routes() http.Handler {
	mux := http.NewServeMux()
	handle := iss.instrumented(mux)
	handle("/acme/", "acme", iss.acme.Handler())
	handle("POST /pair/device_authorization", "pair", http.HandlerFunc(iss.pairing.DeviceAuthorization))
	handle("POST /pair/token", "pair", http.HandlerFunc(iss.pairing.Token))
	iss.device.Routes(func(pattern string, h http.Handler) { handle(pattern, "device-api", h) })
	iss.caFiles(handle)
	handle("GET /healthz", "healthz", http.HandlerFunc(iss.serveHealth))
	if iss.metricsLn == nil {
		mux.Handle("GET /metrics", loopbackOnly(iss.metricsHandler()))
	} else {
		mux.Handle("GET /metrics", http.NotFoundHandler())
	}
	handle("/", "web", iss.web.Handler())
	return mux
}

// metricsRoutes is the handler of the metrics listener: /metrics alone.
func (iss *Issuer) metricsRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", iss.metricsHandler())
	return mux
}

func (iss *Issuer) metricsHandler() http.Handler {
	return promhttp.HandlerFor(iss.registry, promhttp.HandlerOpts{Registry: iss.registry})
}

// loopbackOnly answers 404 to every client but one on the issuer's own
// machine: the metrics tell who pairs when and how busy the issuer is,
// which is nothing for the internet.
func loopbackOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err != nil || !ap.Addr().Unmap().IsLoopback() {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// httpRoutes builds the plain HTTP handler: the CA's public files, for CRL
// and AIA fetchers that do not speak HTTPS (RFC 5280 sections 4.2.1.13 and
// 4.2.2.1), and a redirect to the HTTPS base URL for everything else.
// 308 keeps the method, so a misdirected ACME POST is not turned into a GET.
func (iss *Issuer) httpRoutes() http.Handler {
	mux := http.NewServeMux()
	iss.caFiles(iss.instrumented(mux))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, iss.baseURL+r.URL.RequestURI(), http.StatusPermanentRedirect)
	})
	return mux
}

// caFiles routes the CA's public files: the root, the intermediate (the
// AIA caIssuers target) and the CRL.
func (iss *Issuer) caFiles(handle func(pattern, route string, h http.Handler)) {
	handle("GET /ca/root.pem", "ca", staticFile("application/x-pem-file", iss.ca.RootPEM()))
	handle("GET /ca/root.crt", "ca", staticFile("application/pkix-cert", iss.ca.Root().Raw))
	handle("GET /ca/intermediate.crt", "ca", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The intermediate changes when it is rotated.
		staticFile("application/pkix-cert", iss.ca.Intermediate().Raw).ServeHTTP(w, r)
	}))
	handle("GET /ca/crl", "crl", http.HandlerFunc(iss.serveCRL))
}

// instrumented returns a function that routes a pattern on mux, counting
// its requests and timing them under route; both listeners share the
// metrics, registered on first use.
func (iss *Issuer) instrumented(mux *http.ServeMux) func(pattern, route string, h http.Handler) {
	iss.metricsOnce.Do(func() {
		iss.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lantls_http_requests_total",
			Help: "HTTP requests served, by route and status code.",
		}, []string{"route", "code"})
		iss.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lantls_http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"})
		iss.registry.MustRegister(iss.requests, iss.latency)
	})
	return func(pattern, route string, h http.Handler) {
		mux.Handle(pattern, promhttp.InstrumentHandlerCounter(iss.requests.MustCurryWith(prometheus.Labels{"route": route}),
			promhttp.InstrumentHandlerDuration(iss.latency.MustCurryWith(prometheus.Labels{"route": route}), h)))
	}
}

func staticFile(contentType string, body []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})
}

// serveCRL serves the CRL of every unexpired revoked certificate. The
// signed CRL is kept until the revoked set changes, so a revocation shows
// at once, or until half its validity has passed; a GET costs one read of
// the store, not a signature.
func (iss *Issuer) serveCRL(w http.ResponseWriter, r *http.Request) {
	now := iss.cfg.Now()
	revoked, err := iss.store.ListRevoked(r.Context(), now)
	if err != nil {
		iss.cfg.Logger.Error("list revoked certificates", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	entries := make([]x509.RevocationListEntry, 0, len(revoked))
	set := sha256.New()
	for _, rc := range revoked {
		serial, ok := new(big.Int).SetString(rc.Serial, 16)
		if !ok {
			iss.cfg.Logger.Error("bad serial in store", "serial", rc.Serial)
			continue
		}
		entries = append(entries, x509.RevocationListEntry{SerialNumber: serial, RevocationTime: rc.RevokedAt, ReasonCode: rc.Reason})
		fmt.Fprintf(set, "%s %d %d\n", rc.Serial, rc.RevokedAt.UnixMicro(), rc.Reason)
	}
	var key [sha256.Size]byte
	set.Sum(key[:0])
	c := iss.crl.Load()
	if c == nil || c.set != key || !now.Before(c.renewAt) || now.Before(c.signedAt) {
		der, err := iss.ca.CRL(now, entries)
		if err != nil {
			iss.cfg.Logger.Error("sign CRL", "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		c = &signedCRL{set: key, der: der, signedAt: now, renewAt: now.Add(local.CRLValidity / 2)}
		iss.crl.Store(c)
	}
	w.Header().Set("Content-Type", "application/pkix-crl")
	w.Header().Set("Cache-Control", "max-age=60")
	w.Write(c.der)
}

// signedCRL is the last CRL serveCRL signed, for the revoked set whose
// hash is set.
type signedCRL struct {
	set               [sha256.Size]byte
	der               []byte
	signedAt, renewAt time.Time
}

func (iss *Issuer) serveHealth(w http.ResponseWriter, r *http.Request) {
	// A read of the store proves the database answers.
	if _, err := iss.store.GetOwner(r.Context(), "healthz-probe"); err != nil && !isNotFound(err) {
		iss.cfg.Logger.Error("health check", "err", err)
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
