package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Steps of one issuance, in order, as the report names them. challenge is
// measured only where an authorization was pending; with the x/crypto/acme
// client, account includes the directory and nonce fetches and finalize
// includes the download.
const (
	StepNonce     = "nonce"
	StepAccount   = "account"
	StepOrder     = "order"
	StepAuthz     = "authz"
	StepChallenge = "challenge"
	StepFinalize  = "finalize"
	StepDownload  = "download"
	StepTotal     = "total"
)

// stepNames lists the steps in report order; a step's index is its slot
// in a recorder.
var stepNames = []string{StepNonce, StepAccount, StepOrder, StepAuthz, StepChallenge, StepFinalize, StepDownload, StepTotal}

// Why a run stopped.
const (
	StopCount     = "count"     // every planned issuance finished
	StopDuration  = "duration"  // the duration ran out; issuances in flight finished
	StopTimeout   = "timeout"   // the hard timeout cancelled issuances in flight
	StopInterrupt = "interrupt" // the caller's context ended (Ctrl-C)
	StopStall     = "stall"     // nothing finished for the stall limit: the server hangs
)

// Result is what a load run measured. Latencies are in milliseconds.
type Result struct {
	Directory   string `json:"directory"`
	Client      string `json:"client"`
	Concurrency int    `json:"concurrency"`
	Planned     int    `json:"planned"`
	Issued      int    `json:"issued"`
	Failed      int    `json:"failed"`
	// Cancelled issuances were cut short by a timeout, a stall or an
	// interrupt; they count neither as issued nor as failed.
	Cancelled int     `json:"cancelled"`
	Elapsed   float64 `json:"elapsed_s"`
	Rate      float64 `json:"issuances_per_s"`
	StoppedBy string  `json:"stopped_by"`
	// LastProgress is when the last issuance finished, in seconds from the
	// start: for a stalled run, when the server stopped answering.
	LastProgress float64 `json:"last_progress_s"`
	// BadNonceRetries counts requests resent after a badNonce problem.
	BadNonceRetries int `json:"bad_nonce_retries"`
	// Connections counts the connections the client opened: each is a
	// full TLS handshake for the server (bench/floor weighs them).
	Connections int         `json:"connections"`
	Steps       []StepStats `json:"steps"`
	// Errors counts failed issuances by ACME problem type (without the
	// urn:ietf:params:acme:error: prefix), "http-CODE" for error answers
	// that are not problem documents, "timeout" and "transport".
	Errors map[string]int `json:"errors"`
	// ErrorSamples holds the first message seen for each error type,
	// prefixed with the step that failed.
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
}

// StepStats are the latencies of one step over a run.
type StepStats struct {
	Step  string  `json:"step"`
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// Step returns the stats of the named step, zero if it never ran.
func (r *Result) Step(name string) StepStats {
	for _, s := range r.Steps {
		if s.Step == name {
			return s
		}
	}
	return StepStats{Step: name}
}

// newStepStats computes nearest-rank percentiles of ds, sorting it.
func newStepStats(name string, ds []time.Duration) StepStats {
	s := StepStats{Step: name, Count: len(ds)}
	if len(ds) == 0 {
		return s
	}
	slices.Sort(ds)
	at := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(ds)))) - 1
		return ms(ds[max(i, 0)])
	}
	s.P50, s.P90, s.P99, s.Max = at(0.50), at(0.90), at(0.99), ms(ds[len(ds)-1])
	return s
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// WriteText writes the report a person reads at the end of a run.
func (r *Result) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "directory    %s\n", r.Directory)
	fmt.Fprintf(&b, "client       %s, concurrency %d\n", r.Client, r.Concurrency)
	fmt.Fprintf(&b, "stopped by   %s after %.1fs (last issuance finished at %.1fs)\n", r.StoppedBy, r.Elapsed, r.LastProgress)
	fmt.Fprintf(&b, "issuances    %d issued, %d failed, %d cancelled, of %d planned\n", r.Issued, r.Failed, r.Cancelled, r.Planned)
	fmt.Fprintf(&b, "rate         %.1f issuances/s\n", r.Rate)
	if r.BadNonceRetries > 0 {
		fmt.Fprintf(&b, "badNonce     %d requests resent\n", r.BadNonceRetries)
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "step\tcount\tp50 ms\tp90 ms\tp99 ms\tmax ms\t")
	for _, s := range r.Steps {
		if s.Count == 0 {
			fmt.Fprintf(tw, "%s\t0\t-\t-\t-\t-\t\n", s.Step)
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t\n", s.Step, s.Count, s.P50, s.P90, s.P99, s.Max)
	}
	tw.Flush()
	if len(r.Errors) > 0 {
		b.WriteString("\nerrors by type:\n")
		types := make([]string, 0, len(r.Errors))
		for t := range r.Errors {
			types = append(types, t)
		}
		slices.SortFunc(types, func(a, b string) int { return r.Errors[b] - r.Errors[a] })
		for _, t := range types {
			fmt.Fprintf(&b, "  %7d  %s  (e.g. %s)\n", r.Errors[t], t, r.ErrorSamples[t])
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
