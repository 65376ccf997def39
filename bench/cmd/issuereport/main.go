// Command issuereport turns the runs of bench/issue.sh into the Markdown
// tables of bench/results/issue-DATE.md. It reads a manifest with one run
// per line, tab-separated:
//
//	server  concurrency  exit-status  wall-s  server-cpu-s  client-cpu-s  result.json  progress.log
//
// where result.json is what `lantls-bench issue --json` wrote (missing or
// empty if the run died) and progress.log its stderr; a run whose server
// hung may have the server's goroutine dump beside it, as progress.stacks. Servers are named
// ours, pebble and step-ca; ratios compare ours with the others.
//
//	issuereport --runs runs.tsv [--only table|scale] [--scale scale.tsv --seed seed.txt] [--floor floor.json]
//
// With --floor (the JSON of bench/cmd/floor) each run of ours also shows
// its server CPU per issuance as a multiple of the floor: the
// cryptography it could not avoid, with the run's own count of TLS
// handshakes per issuance.
//
// prints the table of runs, the ratios and the latency per step; with
// --only table just the table of runs; with --only scale just the
// comparison of the scale run with the run of ours at its concurrency.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/lantls/lantls/bench"
	"github.com/lantls/lantls/bench/floor"
)

// theFloor is the measured floor, when --floor names one.
var theFloor *floor.Result

// run is one line of a manifest with its result.
type run struct {
	server      string
	concurrency int
	exit        int
	wall        float64
	serverCPU   float64
	clientCPU   float64
	res         *bench.Result // nil when the client wrote none
	lastLog     string
	stacks      string // the server's goroutine dump, when it hung
}

func main() {
	runsFile := flag.String("runs", "", "manifest of the comparison `runs`")
	scaleFile := flag.String("scale", "", "manifest of the scale run")
	seedFile := flag.String("seed", "", "output of `lantls-bench seed` for the scale run")
	scaleDevices := flag.Int("scale-devices", 1000000, "how many `devices` the scale run's store held")
	only := flag.String("only", "", "print only this `part`: table, scale or floor")
	floorFile := flag.String("floor", "", "the `JSON` of bench/cmd/floor, for the ratio to the floor")
	flag.Parse()
	if *floorFile != "" {
		b, err := os.ReadFile(*floorFile)
		if err == nil {
			theFloor = &floor.Result{}
			err = json.Unmarshal(b, theFloor)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "issuereport: --floor:", err)
			os.Exit(1)
		}
	}
	if err := report(os.Stdout, *runsFile, *scaleFile, *seedFile, *only, *scaleDevices); err != nil {
		fmt.Fprintln(os.Stderr, "issuereport:", err)
		os.Exit(1)
	}
}

func report(w io.Writer, runsFile, scaleFile, seedFile, only string, scaleDevices int) error {
	runs, err := readManifest(runsFile)
	if err != nil {
		return err
	}
	switch only {
	case "table":
		writeRuns(w, runs)
		return nil
	case "scale":
		scale, err := readManifest(scaleFile)
		if err != nil {
			return err
		}
		seed, _ := os.ReadFile(seedFile)
		writeScale(w, runs, scale, strings.TrimSpace(string(seed)), scaleDevices)
		return nil
	case "floor":
		writeFloor(w, runs)
		return nil
	case "":
		writeRuns(w, runs)
		writeRatios(w, runs)
		writeSteps(w, runs)
		writeHangs(w, runs)
		return nil
	}
	return fmt.Errorf("--only %q: want table, scale or floor", only)
}

func readManifest(path string) ([]*run, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var runs []*run
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) != 8 {
			return nil, fmt.Errorf("%s: want 8 tab-separated fields, got %q", path, sc.Text())
		}
		r := &run{server: fields[0]}
		r.concurrency, _ = strconv.Atoi(fields[1])
		r.exit, _ = strconv.Atoi(fields[2])
		r.wall, _ = strconv.ParseFloat(fields[3], 64)
		r.serverCPU, _ = strconv.ParseFloat(fields[4], 64)
		r.clientCPU, _ = strconv.ParseFloat(fields[5], 64)
		if b, err := os.ReadFile(fields[6]); err == nil && len(b) > 0 {
			var res bench.Result
			if json.Unmarshal(b, &res) == nil {
				r.res = &res
			}
		}
		r.lastLog = lastLine(fields[7])
		r.stacks = stacksOf(fields[7])
		runs = append(runs, r)
	}
	return runs, sc.Err()
}

func lastLine(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// measured reports whether r gives a rate to compare: it ran to its count
// or duration without hanging.
func (r *run) measured() bool {
	return r.res != nil && r.res.Issued > 0 && (r.res.StoppedBy == bench.StopCount || r.res.StoppedBy == bench.StopDuration)
}

// rateBeforeHang is the rate of a run that hung, up to its last finished
// issuance; 0 if it never issued.
func (r *run) rateBeforeHang() float64 {
	if r.res == nil || r.res.StoppedBy != bench.StopStall || r.res.Issued == 0 || r.res.LastProgress <= 0 {
		return 0
	}
	return float64(r.res.Issued) / r.res.LastProgress
}

// outcome says in words how the run ended.
func (r *run) outcome() string {
	if r.res == nil {
		switch r.exit {
		case 124, 137:
			return fmt.Sprintf("killed by `timeout` after %.0fs", r.wall)
		}
		return fmt.Sprintf("error (exit %d): %s", r.exit, strings.ReplaceAll(r.lastLog, "|", "/"))
	}
	res := r.res
	var s string
	switch res.StoppedBy {
	case bench.StopStall:
		s = fmt.Sprintf("**hung after %.1fs** (%d issued, then nothing for the stall limit; %d requests cut off)", res.LastProgress, res.Issued, res.Cancelled)
		if r.rateBeforeHang() > 0 {
			s = fmt.Sprintf("**hung after %.1fs** (%d issued at %.1f/s, then nothing for the stall limit; %d requests cut off)",
				res.LastProgress, res.Issued, r.rateBeforeHang(), res.Cancelled)
		}
	case bench.StopTimeout:
		s = fmt.Sprintf("timed out after %.0fs (%d cut off)", res.Elapsed, res.Cancelled)
	case bench.StopInterrupt:
		s = "interrupted"
	default:
		s = fmt.Sprintf("ok, stopped by %s", res.StoppedBy)
	}
	if res.Failed > 0 {
		var types []string
		for t, n := range res.Errors {
			types = append(types, fmt.Sprintf("%s ×%d", t, n))
		}
		slices.Sort(types)
		s += fmt.Sprintf("; %d failed: %s", res.Failed, strings.Join(types, ", "))
	}
	return s
}

func perIssuance(cpu float64, r *run) string {
	if r.res == nil || r.res.Issued == 0 || cpu <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", cpu*1000/float64(r.res.Issued))
}

// floorRatio is the server CPU per issuance of a run of ours divided by
// the floor, counting the run's own handshakes per issuance.
func floorRatio(r *run) string {
	if theFloor == nil || !strings.HasPrefix(r.server, "ours") || r.res == nil || r.res.Issued == 0 || r.serverCPU <= 0 {
		return "-"
	}
	ns := floorNs(float64(r.res.Connections) / float64(r.res.Issued))
	return fmt.Sprintf("%.2f×", r.serverCPU*1e9/float64(r.res.Issued)/ns)
}

// floorNs is the floor with handshakes TLS handshakes per issuance.
func floorNs(handshakes float64) float64 {
	var ns float64
	for _, op := range theFloor.Ops {
		ns += op.NsPerOp * perIssuanceCount(op, handshakes)
	}
	return ns
}

// perIssuanceCount is how many times an issuance does op: as measured,
// but for the TLS handshake, whose count is the run's own.
func perIssuanceCount(op floor.Op, handshakes float64) float64 {
	if strings.HasPrefix(op.Name, "TLS") {
		return handshakes
	}
	return op.Count
}

// writeFloor prints the floor's operations, with the handshakes per
// issuance of the run of ours at the highest concurrency.
func writeFloor(w io.Writer, runs []*run) {
	if theFloor == nil {
		return
	}
	var top *run
	for _, r := range runs {
		if r.server == "ours" && r.res != nil && r.res.Issued > 0 && (top == nil || r.concurrency > top.concurrency) {
			top = r
		}
	}
	handshakes := 1.0
	if top != nil {
		handshakes = float64(top.res.Connections) / float64(top.res.Issued)
	}
	fmt.Fprintf(w, "| operation | µs each | per issuance | µs per issuance |\n| --- | ---: | ---: | ---: |\n")
	for _, op := range theFloor.Ops {
		count := perIssuanceCount(op, handshakes)
		fmt.Fprintf(w, "| %s | %.1f | %.3g | %.1f |\n", op.Name, op.NsPerOp/1e3, count, op.NsPerOp*count/1e3)
	}
	fmt.Fprintf(w, "| **floor** | | | **%.1f** |\n\n", floorNs(handshakes)/1e3)
}

func writeRuns(w io.Writer, runs []*run) {
	fmt.Fprintln(w, "| server | c | issuances/s | p50 total ms | p99 total ms | issued | server CPU ms/issuance | × floor | client CPU ms/issuance | outcome |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
	for _, r := range runs {
		rate, p50, p99, issued := "-", "-", "-", "-"
		if r.res != nil {
			issued = strconv.Itoa(r.res.Issued)
			if t := r.res.Step(bench.StepTotal); t.Count > 0 {
				p50, p99 = fmt.Sprintf("%.1f", t.P50), fmt.Sprintf("%.1f", t.P99)
			}
			if r.measured() {
				rate = fmt.Sprintf("**%.1f**", r.res.Rate)
			}
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.server, r.concurrency, rate, p50, p99, issued,
			perIssuance(r.serverCPU, r), floorRatio(r), perIssuance(r.clientCPU, r), r.outcome())
	}
	fmt.Fprintln(w)
}

func find(runs []*run, server string, c int) *run {
	for _, r := range runs {
		if r.server == server && r.concurrency == c {
			return r
		}
	}
	return nil
}

func concurrencies(runs []*run) []int {
	var cs []int
	for _, r := range runs {
		if !slices.Contains(cs, r.concurrency) {
			cs = append(cs, r.concurrency)
		}
	}
	slices.Sort(cs)
	return cs
}

func writeRatios(w io.Writer, runs []*run) {
	fmt.Fprintln(w, "Ratios of issuance rates (ours divided by the peer's, same c):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| c | ours/Pebble | ours/step-ca |")
	fmt.Fprintln(w, "| ---: | ---: | ---: |")
	for _, c := range concurrencies(runs) {
		ours := find(runs, "ours", c)
		fmt.Fprintf(w, "| %d | %s | %s |\n", c, ratio(ours, find(runs, "pebble", c), "Pebble"), ratio(ours, find(runs, "step-ca", c), "step-ca"))
	}
	fmt.Fprintln(w)
}

func ratio(ours, peer *run, name string) string {
	switch {
	case ours == nil || !ours.measured():
		return "n/a (ours not measured)"
	case peer == nil:
		return "n/a (not run)"
	case peer.rateBeforeHang() > 0:
		return fmt.Sprintf("%.2f× against its %.1f/s before it hung at %.1fs", ours.res.Rate/peer.rateBeforeHang(), peer.rateBeforeHang(), peer.res.LastProgress)
	case !peer.measured():
		return fmt.Sprintf("n/a (%s: %s)", name, strings.SplitN(peer.outcome(), " (", 2)[0])
	}
	return fmt.Sprintf("%.2f×", ours.res.Rate/peer.res.Rate)
}

// writeSteps shows where the time of one issuance goes, per server, at the
// highest concurrency each server completed.
func writeSteps(w io.Writer, runs []*run) {
	steps := []string{bench.StepNonce, bench.StepAccount, bench.StepOrder, bench.StepAuthz, bench.StepChallenge, bench.StepFinalize, bench.StepDownload, bench.StepTotal}
	fmt.Fprintln(w, "Latency per step, p50 / p99 in ms, at the highest concurrency each server completed:")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "| server | c | %s |\n", strings.Join(steps, " | "))
	fmt.Fprintf(w, "| --- | ---: |%s\n", strings.Repeat(" ---: |", len(steps)))
	for _, server := range []string{"ours", "pebble", "step-ca"} {
		var best *run
		for _, r := range runs {
			if r.server == server && r.measured() && (best == nil || r.concurrency > best.concurrency) {
				best = r
			}
		}
		if best == nil {
			continue
		}
		cells := make([]string, len(steps))
		for i, s := range steps {
			st := best.res.Step(s)
			cells[i] = "-"
			if st.Count > 0 {
				cells[i] = fmt.Sprintf("%.1f / %.1f", st.P50, st.P99)
			}
		}
		fmt.Fprintf(w, "| %s | %d | %s |\n", server, best.concurrency, strings.Join(cells, " | "))
	}
	fmt.Fprintln(w)
}

func writeScale(w io.Writer, runs, scale []*run, seed string, devices int) {
	fmt.Fprintln(w, "| store | c | issuances/s | p50 total ms | p99 total ms | outcome |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | --- |")
	row := func(label string, r *run) {
		if r == nil {
			fmt.Fprintf(w, "| %s | - | - | - | - | not run |\n", label)
			return
		}
		rate, p50, p99 := "-", "-", "-"
		if r.measured() {
			t := r.res.Step(bench.StepTotal)
			rate, p50, p99 = fmt.Sprintf("%.1f", r.res.Rate), fmt.Sprintf("%.1f", t.P50), fmt.Sprintf("%.1f", t.P99)
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s |\n", label, r.concurrency, rate, p50, p99, r.outcome())
	}
	var full *run
	if len(scale) > 0 {
		full = scale[0]
	}
	var empty *run
	if full != nil {
		empty = find(runs, "ours", full.concurrency)
	}
	row("empty (the run above)", empty)
	row(fmt.Sprintf("%s devices seeded", thousands(devices)), full)
	fmt.Fprintln(w)
	if empty != nil && full != nil && empty.measured() && full.measured() {
		d := (full.res.Rate/empty.res.Rate - 1) * 100
		verdict := "within the 20% target"
		if d < -20 {
			verdict = "**outside** the 20% target"
		}
		fmt.Fprintf(w, "With the seeded store the rate is %+.1f%% of the empty-store rate: %s.\n\n", d, verdict)
	}
	if seed != "" {
		fmt.Fprintf(w, "Seeding (`lantls-bench seed`):\n\n```\n%s\n```\n\n", seed)
	}
}

// thousands writes n with commas: 1,000,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
