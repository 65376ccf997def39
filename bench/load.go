// Package bench measures the issuer and its peers: IssueLoad drives whole
// ACME issuances against any RFC 8555 server from many simulated devices
// at once, and Seed fills an issuer's store with devices so that a run can
// show how the issuer behaves with a million of them.
//
// A simulated device does what a fresh device does: it makes a new P-256
// account key, registers (with its own EAB key when the server wants one),
// orders its names, reads the authorizations and answers http-01 where one
// is pending, finalizes with a CSR for a new P-256 key and downloads the
// chain. Every run is bounded by a count and a time.
package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Clients IssueLoad can drive.
const (
	// ClientLean is this package's own minimal ACME client (the default).
	ClientLean = "lean"
	// ClientXACME is golang.org/x/crypto/acme, for comparison.
	ClientXACME = "xacme"
)

// Options configure IssueLoad. Zero values take the defaults documented on
// each field.
type Options struct {
	// Directory is the ACME directory URL.
	Directory string
	// Devices are used in order, one issuance each.
	Devices []Device
	// N is how many issuances to attempt; 0 or more than len(Devices)
	// means one per device.
	N int
	// Concurrency is how many devices run at once; default 1.
	Concurrency int
	// Duration stops the start of new issuances once it has passed;
	// issuances in flight finish. Default 1 minute.
	Duration time.Duration
	// Timeout is the hard limit of the whole run: issuances still in
	// flight when it passes are cancelled. Default Duration + IssueTimeout.
	Timeout time.Duration
	// IssueTimeout bounds one issuance; default 30 s.
	IssueTimeout time.Duration
	// Stall ends the run when issuances are in flight but none finished
	// for this long (a hung server); default 10 s.
	Stall time.Duration
	// PollInterval is the wait between polls of a pending authorization or
	// a processing order when the server sends no Retry-After; default
	// 10 ms. MaxPoll caps a Retry-After; default 2 s.
	PollInterval time.Duration
	MaxPoll      time.Duration
	// RootCAs verify the server's TLS certificate; nil means the system's.
	RootCAs *x509.CertPool
	// Sources spreads the client's connections over this many source
	// addresses, 127.0.0.1, 127.0.0.2, ... (every address of 127.0.0.0/8
	// is the loopback), as devices of a fleet come from many networks:
	// per-source limits then each see a share, as in the field. 0 or 1
	// means the system's choice. Only for servers on 127.0.0.0/8.
	Sources int
	// HTTP2 lets connections use HTTP/2; by default each connection is
	// HTTP/1.1 with keep-alive, so C devices use about C connections.
	HTTP2 bool
	// HTTP01Addr is where http-01 challenges are answered, started the
	// first time one is pending; default 127.0.0.1:80.
	HTTP01Addr string
	// Client is ClientLean (default) or ClientXACME.
	Client string
	// Verify checks every downloaded chain against RootCAs (it costs client
	// CPU, so it is off by default).
	Verify bool
	// Progress receives a line per second; nil for none.
	Progress io.Writer
	// Issued, if set, is called with every certificate chain (DER, leaf
	// first), from many goroutines at once.
	Issued func(d Device, chain [][]byte)
}

func (o *Options) defaults() error {
	if o.Directory == "" {
		return errors.New("no directory URL")
	}
	if len(o.Devices) == 0 {
		return errors.New("no devices")
	}
	if o.N <= 0 || o.N > len(o.Devices) {
		o.N = len(o.Devices)
	}
	o.Concurrency = max(o.Concurrency, 1)
	setDefault(&o.Duration, time.Minute)
	setDefault(&o.IssueTimeout, 30*time.Second)
	setDefault(&o.Timeout, o.Duration+o.IssueTimeout)
	setDefault(&o.Stall, 10*time.Second)
	setDefault(&o.PollInterval, 10*time.Millisecond)
	setDefault(&o.MaxPoll, 2*time.Second)
	if o.HTTP01Addr == "" {
		o.HTTP01Addr = "127.0.0.1:80"
	}
	if o.Sources < 0 || o.Sources > 1<<16 {
		return fmt.Errorf("sources %d: want 0 to 65536", o.Sources)
	}
	switch o.Client {
	case "":
		o.Client = ClientLean
	case ClientLean, ClientXACME:
	default:
		return fmt.Errorf("unknown client %q: use %s or %s", o.Client, ClientLean, ClientXACME)
	}
	return nil
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// IssueLoad runs up to o.N issuances, o.Concurrency at a time, until they
// are done or o.Duration has passed, and reports what it measured. Failed
// issuances are counted, not returned: the error is for a run that could
// not start (bad options, no directory). When ctx ends (Ctrl-C) the run
// stops at once and the partial result is returned with StoppedBy
// "interrupt".
func IssueLoad(ctx context.Context, o Options) (*Result, error) {
	if err := o.defaults(); err != nil {
		return nil, fmt.Errorf("issue load: %w", err)
	}
	// The client shares the machine with the server it measures: collect
	// garbage a quarter as often (its live heap is a few MB), unless GOGC
	// says otherwise.
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(400))
	}
	dials := new(atomic.Int64)
	hc := newHTTPClient(&o, dials)
	defer hc.CloseIdleConnections()
	dir, err := fetchDirectory(ctx, hc, o.Directory)
	if err != nil {
		return nil, fmt.Errorf("issue load: %w", err)
	}
	r := &run{o: &o, hc: hc, dir: dir, http01: newHTTP01(o.HTTP01Addr), dials: dials}
	defer r.http01.close()
	return r.run(ctx), nil
}

// newHTTPClient returns the load's HTTP client; dials counts the
// connections it opens, each a full TLS handshake for the server.
func newHTTPClient(o *Options, dials *atomic.Int64) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		// Never through a proxy: the load goes to a server on this machine.
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			n := dials.Add(1)
			if o.Sources > 1 {
				// Each connection from the next source address in turn.
				i := int((n - 1) % int64(o.Sources))
				d := *d
				d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, byte(i>>16), byte(i>>8), byte(i)+1)}
				return d.DialContext(ctx, network, addr)
			}
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig:     &tls.Config{RootCAs: o.RootCAs},
		TLSHandshakeTimeout: 10 * time.Second,
		ForceAttemptHTTP2:   o.HTTP2,
		MaxIdleConnsPerHost: 2 * o.Concurrency,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr}
}

// run is one IssueLoad call in progress.
type run struct {
	o      *Options
	hc     *http.Client
	dir    *directory
	http01 *http01
	start  time.Time
	dials  *atomic.Int64 // connections opened

	next      atomic.Int64 // index of the next device
	issued    atomic.Int64
	failed    atomic.Int64
	inFlight  atomic.Int64
	lastDone  atomic.Int64 // nanoseconds from start of the last finished issuance
	stopNew   atomic.Bool  // set when the duration has passed
	stalled   atomic.Bool
	recorders []*recorder
}

func (r *run) run(ctx context.Context) *Result {
	runCtx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	defer cancel()
	r.start = time.Now()
	durationTimer := time.AfterFunc(r.o.Duration, func() { r.stopNew.Store(true) })
	defer durationTimer.Stop()

	var wg sync.WaitGroup
	r.recorders = make([]*recorder, r.o.Concurrency)
	for i := range r.recorders {
		rec := newRecorder()
		r.recorders[i] = rec
		wg.Go(func() { r.worker(runCtx, rec) })
	}
	done := make(chan struct{})
	watcherDone := make(chan struct{})
	go func() {
		r.watch(done, cancel)
		close(watcherDone)
	}()
	wg.Wait()
	elapsed := time.Since(r.start)
	close(done)
	<-watcherDone
	return r.result(ctx, runCtx, elapsed)
}

// worker runs issuances of the next devices until none is left or the run
// must stop.
func (r *run) worker(ctx context.Context, rec *recorder) {
	for !r.stopNew.Load() && ctx.Err() == nil {
		i := int(r.next.Add(1) - 1)
		if i >= r.o.N {
			return
		}
		r.inFlight.Add(1)
		d := r.o.Devices[i]
		ictx, cancel := context.WithTimeout(ctx, r.o.IssueTimeout)
		err := r.issue(ictx, d, rec)
		cancel()
		r.inFlight.Add(-1)
		switch {
		case err == nil:
			r.issued.Add(1)
		case ctx.Err() != nil:
			rec.cancelled++
			continue // not finished: no progress
		default:
			r.failed.Add(1)
			rec.fail(err)
		}
		r.lastDone.Store(int64(time.Since(r.start)))
	}
}

// watch prints progress every second and cancels the run when it stalls,
// until done is closed.
func (r *run) watch(done <-chan struct{}, cancel context.CancelFunc) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var lastCount int64
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		since := time.Since(r.start)
		count := r.issued.Load() + r.failed.Load()
		if r.o.Progress != nil {
			fmt.Fprintf(r.o.Progress, "%6.1fs  %d/%d done  %4d/s now  %6.1f/s avg  %d errors  %d in flight\n",
				since.Seconds(), count, r.o.N, count-lastCount, float64(r.issued.Load())/since.Seconds(), r.failed.Load(), r.inFlight.Load())
		}
		lastCount = count
		if r.inFlight.Load() > 0 && since-time.Duration(r.lastDone.Load()) > r.o.Stall {
			r.stalled.Store(true)
			if r.o.Progress != nil {
				fmt.Fprintf(r.o.Progress, "no issuance finished for %s with %d in flight: the server hangs; stopping\n", r.o.Stall, r.inFlight.Load())
			}
			cancel()
			return
		}
	}
}

func (r *run) result(ctx, runCtx context.Context, elapsed time.Duration) *Result {
	res := &Result{
		Directory:    r.o.Directory,
		Client:       r.o.Client,
		Concurrency:  r.o.Concurrency,
		Planned:      r.o.N,
		Issued:       int(r.issued.Load()),
		Failed:       int(r.failed.Load()),
		Elapsed:      round3(elapsed.Seconds()),
		Connections:  int(r.dials.Load()),
		LastProgress: round3(time.Duration(r.lastDone.Load()).Seconds()),
		Errors:       map[string]int{},
		ErrorSamples: map[string]string{},
	}
	if elapsed > 0 {
		res.Rate = round3(float64(res.Issued) / elapsed.Seconds())
	}
	switch {
	case r.stalled.Load():
		res.StoppedBy = StopStall
	case ctx.Err() != nil:
		res.StoppedBy = StopInterrupt
	case runCtx.Err() != nil:
		res.StoppedBy = StopTimeout
	case res.Issued+res.Failed < res.Planned:
		res.StoppedBy = StopDuration
	default:
		res.StoppedBy = StopCount
	}
	all := newRecorder()
	for _, rec := range r.recorders {
		all.merge(rec)
	}
	res.Cancelled = all.cancelled
	res.BadNonceRetries = all.badNonces
	for i, name := range stepNames {
		res.Steps = append(res.Steps, newStepStats(name, all.steps[i]))
	}
	res.Errors, res.ErrorSamples = all.errors, all.samples
	return res
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

// recorder holds one worker's measurements, merged at the end so that
// workers never contend for a lock.
type recorder struct {
	steps     [slotTotal + 1][]time.Duration // by index in stepNames
	errors    map[string]int
	samples   map[string]string
	cancelled int
	badNonces int
}

func newRecorder() *recorder {
	return &recorder{errors: map[string]int{}, samples: map[string]string{}}
}

func (rec *recorder) add(step int, d time.Duration) { rec.steps[step] = append(rec.steps[step], d) }

func (rec *recorder) fail(err error) {
	typ, msg := classify(err)
	rec.errors[typ]++
	if _, ok := rec.samples[typ]; !ok {
		rec.samples[typ] = msg
	}
}

func (rec *recorder) merge(o *recorder) {
	for i := range rec.steps {
		rec.steps[i] = append(rec.steps[i], o.steps[i]...)
	}
	for k, v := range o.errors {
		rec.errors[k] += v
	}
	for k, v := range o.samples {
		if _, ok := rec.samples[k]; !ok {
			rec.samples[k] = v
		}
	}
	rec.cancelled += o.cancelled
	rec.badNonces += o.badNonces
}

// Slots of the steps in a recorder.
const (
	slotNonce = iota
	slotAccount
	slotOrder
	slotAuthz
	slotChallenge
	slotFinalize
	slotDownload
	slotTotal
)

// stepError is an error that happened in a step.
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return e.step + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

func inStep(step string, err error) error {
	if err == nil {
		return nil
	}
	return &stepError{step, err}
}

const acmeErrorPrefix = "urn:ietf:params:acme:error:"

// classify returns the error type an error is counted under and a short
// message for the samples.
func classify(err error) (string, string) {
	msg := err.Error()
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	var p *Problem
	var ne net.Error
	switch {
	case errors.As(err, &p):
		return strings.TrimPrefix(p.Type, acmeErrorPrefix), msg
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout", msg
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout", msg
	case errors.As(err, &ne), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "transport", msg
	}
	return "client", msg
}
