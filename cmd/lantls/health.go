package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/lantls/lantls/internal/flagfile"
	"github.com/lantls/lantls/issuer"
)

const healthUsage = `lantls health [--config FILE] [--data DIR] [--url URL]

Asks the issuer of the data dir for its /healthz and exits 0 when it
answers 200: a container's or a monitor's health check. The URL comes
from the issuer.json the running issuer wrote; its certificate must chain
to the issuer's root (or a system root), whatever name it carries.`

func runHealth(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "health", healthUsage)
	dataDir := fs.String("data", issuer.Defaults.DataDir, "the issuer's data `dir`")
	url := fs.String("url", "", "health `URL` (default: the issuer's base URL from issuer.json, /healthz)")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this `duration`")
	conf := flagfile.Add(fs, envPrefix)
	conf.SkipUnknown = true
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	if err := conf.Apply(os.Getenv); err != nil {
		return usagef("%v", err)
	}
	info, err := issuer.ReadInfo(*dataDir)
	if err != nil {
		return fmt.Errorf("%w: has an issuer run with --data %s?", err, *dataDir)
	}
	if *url == "" {
		*url = info.BaseURL + "/healthz"
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if pem, err := os.ReadFile(info.Root); err == nil {
		roots.AppendCertsFromPEM(pem)
	}
	client := &http.Client{
		Timeout:   *timeout,
		Transport: &http.Transport{TLSClientConfig: chainOnly(roots), Proxy: nil},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return usagef("--url %q: %v", *url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("unhealthy: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("unhealthy: %s answered %s: %s", *url, resp.Status, body)
	}
	fmt.Fprintf(e.stdout, "healthy: %s\n", *url)
	return nil
}

// chainOnly verifies the server's chain against roots but not its name:
// the health URL is often an address the certificate does not name
// (https://[::]:8443 for --listen :8443).
func chainOnly(roots *x509.CertPool) *tls.Config {
	return &tls.Config{
		InsecureSkipVerify: true, // replaced by VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no server certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
			return err
		},
	}
}
