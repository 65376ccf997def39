package bench

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/issuer"
	"github.com/lantls/lantls/issuer/issuertest"
)

// startIssuer runs a real issuer and returns it with a pool that holds
// its root.
func startIssuer(t *testing.T) (*issuer.Issuer, *x509.CertPool) {
	t.Helper()
	return issuertest.Start(t, issuer.Config{})
}

// addDevices makes n devices with devices.Add, as `lantls admin device add`
// does.
func addDevices(t *testing.T, iss *issuer.Issuer, n int) []Device {
	t.Helper()
	var devs []Device
	for i := range n {
		c, err := devices.Add(context.Background(), iss.Store(), iss.Info().Zone, "bench", "dev", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		key, err := decodeKey(c.HMACKey)
		if err != nil {
			t.Fatalf("device %d: %v", i, err)
		}
		devs = append(devs, Device{KID: c.KID, HMACKey: key, Names: c.Names})
	}
	return devs
}

// chains collects what Issued hands over.
type chains struct {
	mu sync.Mutex
	m  map[string][][]byte // first name -> chain
}

func (c *chains) add(d Device, chain [][]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string][][]byte{}
	}
	c.m[d.Names[0]] = chain
}

func TestIssueLoadAgainstIssuer(t *testing.T) {
	for _, client := range []string{ClientLean, ClientXACME} {
		t.Run(client, func(t *testing.T) {
			iss, roots := startIssuer(t)
			devs := addDevices(t, iss, 20)
			var got chains
			res, err := IssueLoad(context.Background(), Options{
				Directory:   iss.Info().Directory,
				Devices:     devs,
				Concurrency: 4,
				Duration:    20 * time.Second,
				RootCAs:     roots,
				Client:      client,
				Issued:      got.add,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Issued != 20 || res.Failed != 0 || res.Cancelled != 0 || res.StoppedBy != StopCount || res.Planned != 20 {
				t.Fatalf("issued %d, failed %d, cancelled %d, stopped by %s, planned %d; want 20, 0, 0, count, 20; errors %v",
					res.Issued, res.Failed, res.Cancelled, res.StoppedBy, res.Planned, res.ErrorSamples)
			}
			if res.Rate <= 0 || res.Elapsed <= 0 {
				t.Errorf("rate %v over %vs", res.Rate, res.Elapsed)
			}
			want := map[string]int{StepNonce: 20, StepAccount: 20, StepOrder: 20, StepAuthz: 20, StepChallenge: 0, StepFinalize: 20, StepDownload: 20, StepTotal: 20}
			if client == ClientXACME {
				want[StepNonce], want[StepDownload] = 0, 0
			}
			for step, n := range want {
				s := res.Step(step)
				if s.Count != n {
					t.Errorf("step %s measured %d times, want %d", step, s.Count, n)
				}
				if n > 0 && !(s.P50 > 0 && s.P50 <= s.P90 && s.P90 <= s.P99 && s.P99 <= s.Max) {
					t.Errorf("step %s percentiles out of order: %+v", step, s)
				}
			}
			if len(got.m) != 20 {
				t.Fatalf("Issued saw %d chains, want 20", len(got.m))
			}
			for _, d := range devs {
				chain := got.m[d.Names[0]]
				if err := verifyChain(chain, roots); err != nil {
					t.Errorf("chain of %s: %v", d.Names[0], err)
					continue
				}
				leaf, _ := x509.ParseCertificate(chain[0])
				if !slices.Equal(leaf.DNSNames, d.Names) {
					t.Errorf("leaf names %v, want %v", leaf.DNSNames, d.Names)
				}
			}
		})
	}
}

func TestIssueLoadCountsProblemTypes(t *testing.T) {
	iss, roots := startIssuer(t)
	devs := addDevices(t, iss, 3)
	devs[1].HMACKey = []byte("not the device's key")
	res, err := IssueLoad(context.Background(), Options{Directory: iss.Info().Directory, Devices: devs, Concurrency: 2, RootCAs: roots, Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Issued != 2 || res.Failed != 1 {
		t.Fatalf("issued %d, failed %d; want 2, 1", res.Issued, res.Failed)
	}
	if len(res.Errors) != 1 {
		t.Fatalf("errors %v, want one type", res.Errors)
	}
	for typ, n := range res.Errors {
		if n != 1 || strings.Contains(typ, ":") || !strings.HasPrefix(res.ErrorSamples[typ], "account: ") {
			t.Errorf("error %q counted %d, sample %q; want one ACME problem type without its urn prefix, in step account", typ, n, res.ErrorSamples[typ])
		}
	}
	var text bytes.Buffer
	if err := res.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"2 issued, 1 failed", "errors by type", "finalize"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, &text)
		}
	}
	b, err := json.Marshal(res)
	if err != nil || !bytes.Contains(b, []byte(`"issuances_per_s"`)) {
		t.Errorf("JSON result %s, %v", b, err)
	}
}

// hangingServer is an ACME server that answers the directory and nonces
// but never answers newAccount, as a deadlocked server does.
func hangingServer(t *testing.T) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dir", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(directory{NewNonce: srv.URL + "/nonce", NewAccount: srv.URL + "/account", NewOrder: srv.URL + "/order"})
	})
	mux.HandleFunc("/nonce", func(w http.ResponseWriter, r *http.Request) { w.Header().Set("Replay-Nonce", "n") })
	mux.HandleFunc("/account", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	srv = httptest.NewTLSServer(mux)
	t.Cleanup(func() { close(release); srv.Close() })
	return srv
}

func TestIssueLoadStopsOnStall(t *testing.T) {
	srv := hangingServer(t)
	var progress bytes.Buffer
	start := time.Now()
	res, err := IssueLoad(context.Background(), Options{
		Directory: srv.URL + "/dir", Devices: TemplateDevices("d{i}.example.com", 10), Concurrency: 3,
		RootCAs: pool(srv.Certificate()), Stall: 500 * time.Millisecond, Progress: &progress,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.StoppedBy != StopStall || res.Cancelled != 3 || res.Issued != 0 || res.Failed != 0 {
		t.Errorf("stopped by %s, cancelled %d, issued %d, failed %d; want stall, 3, 0, 0", res.StoppedBy, res.Cancelled, res.Issued, res.Failed)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stall took %s to detect", d)
	}
	if !strings.Contains(progress.String(), "the server hangs") {
		t.Errorf("progress does not say the server hangs:\n%s", &progress)
	}
}

func TestIssueLoadInterrupt(t *testing.T) {
	srv := hangingServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	res, err := IssueLoad(ctx, Options{
		Directory: srv.URL + "/dir", Devices: TemplateDevices("d{i}.example.com", 10), Concurrency: 2,
		RootCAs: pool(srv.Certificate()),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.StoppedBy != StopInterrupt || res.Cancelled != 2 {
		t.Errorf("stopped by %s with %d cancelled; want interrupt, 2", res.StoppedBy, res.Cancelled)
	}
}

func TestIssueLoadTimeout(t *testing.T) {
	srv := hangingServer(t)
	res, err := IssueLoad(context.Background(), Options{
		Directory: srv.URL + "/dir", Devices: TemplateDevices("d{i}.example.com", 10), Concurrency: 2,
		RootCAs: pool(srv.Certificate()), Timeout: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.StoppedBy != StopTimeout || res.Cancelled != 2 {
		t.Errorf("stopped by %s with %d cancelled; want timeout, 2", res.StoppedBy, res.Cancelled)
	}
}

func TestIssueLoadRejectsBadOptions(t *testing.T) {
	for _, o := range []Options{
		{Devices: TemplateDevices("a.example", 1)},
		{Directory: "https://127.0.0.1:1/dir"},
		{Directory: "https://127.0.0.1:1/dir", Devices: TemplateDevices("a.example", 1), Client: "curl"},
	} {
		if _, err := IssueLoad(context.Background(), o); err == nil {
			t.Errorf("IssueLoad(%+v) succeeded", o)
		}
	}
}

func pool(c *x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c)
	return p
}

// TestSourcesSpreadConnections checks that Sources makes each new
// connection come from the next loopback address in turn.
func TestSourcesSpreadConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dials := new(atomic.Int64)
	hc := newHTTPClient(&Options{Sources: 3}, dials)
	dial := hc.Transport.(*http.Transport).DialContext
	var got []string
	for range 4 {
		c, err := dial(t.Context(), "tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, s.RemoteAddr().(*net.TCPAddr).IP.String())
		s.Close()
		c.Close()
	}
	want := []string{"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.1"}
	if !slices.Equal(got, want) || dials.Load() != 4 {
		t.Errorf("sources %v after %d dials, want %v after 4", got, dials.Load(), want)
	}
}
