package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lantls/lantls/bench"
	"github.com/lantls/lantls/bench/floor"
)

func TestOutcomeAndRatio(t *testing.T) {
	ok := &run{server: "ours", concurrency: 4, res: &bench.Result{Issued: 900, Rate: 600, StoppedBy: bench.StopDuration}}
	hung := &run{server: "pebble", concurrency: 4, res: &bench.Result{Issued: 300, LastProgress: 2, Cancelled: 4, StoppedBy: bench.StopStall}}
	dead := &run{server: "pebble", concurrency: 16, res: &bench.Result{StoppedBy: bench.StopStall, Cancelled: 16}}
	killed := &run{server: "step-ca", concurrency: 4, exit: 124, wall: 60}
	broken := &run{server: "step-ca", concurrency: 4, exit: 1, lastLog: "listen tcp: address in use"}
	slower := &run{server: "step-ca", concurrency: 4, res: &bench.Result{Issued: 300, Rate: 150, StoppedBy: bench.StopCount,
		Failed: 2, Errors: map[string]int{"rateLimited": 2}}}
	tests := []struct {
		r    *run
		want string
	}{
		{ok, "ok, stopped by duration"},
		{hung, "**hung after 2.0s** (300 issued at 150.0/s, then nothing for the stall limit; 4 requests cut off)"},
		{dead, "**hung after 0.0s** (0 issued, then nothing"},
		{killed, "killed by `timeout` after 60s"},
		{broken, "error (exit 1): listen tcp: address in use"},
		{slower, "ok, stopped by count; 2 failed: rateLimited ×2"},
	}
	for _, tt := range tests {
		if got := tt.r.outcome(); !strings.HasPrefix(got, tt.want) {
			t.Errorf("outcome of %s = %q, want %q", tt.r.server, got, tt.want)
		}
	}
	for _, tt := range []struct {
		peer *run
		want string
	}{
		{slower, "4.00×"},
		{hung, "4.00× against its 150.0/s before it hung at 2.0s"},
		{dead, "n/a (Pebble: **hung after 0.0s**)"},
		{nil, "n/a (not run)"},
	} {
		if got := ratio(ok, tt.peer, "Pebble"); got != tt.want {
			t.Errorf("ratio = %q, want %q", got, tt.want)
		}
	}
}

func TestReport(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ours := write("ours.json", `{"issued":1000,"connections":10,"issuances_per_s":500,"stopped_by":"count","steps":[{"step":"total","count":1000,"p50_ms":7,"p99_ms":15}]}`)
	full := write("full.json", `{"issued":1000,"issuances_per_s":450,"stopped_by":"count","steps":[{"step":"total","count":1000,"p50_ms":8,"p99_ms":16}]}`)
	log := write("x.log", "progress\n")
	runs := write("runs.tsv", "ours\t4\t0\t2.1\t2.00\t1.00\t"+ours+"\t"+log+"\n")
	scale := write("scale.tsv", "ours-scale\t4\t0\t2.3\t2.00\t1.00\t"+full+"\t"+log+"\n")
	seed := write("seed.txt", "seeded 20 devices\n")

	var b strings.Builder
	if err := report(&b, runs, "", "", "", 0); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| ours | 4 | **500.0** | 7.0 | 15.0 | 1000 | 2.00 | - | 1.00 | ok, stopped by count |", "| 4 | n/a (not run) | n/a (not run) |"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
	// With a floor of 500 µs of signatures and a 100 µs handshake, and
	// 10 connections for 1000 issuances: 501 µs, so 2 ms is 3.99×.
	theFloor = &floor.Result{Ops: []floor.Op{{Name: "signatures", NsPerOp: 500e3, Count: 1}, {Name: "TLS handshake", NsPerOp: 100e3, Count: 1}}}
	defer func() { theFloor = nil }()
	b.Reset()
	if err := report(&b, runs, "", "", "", 0); err != nil {
		t.Fatal(err)
	}
	if want := "| 2.00 | 3.99× | 1.00 |"; !strings.Contains(b.String(), want) {
		t.Errorf("report lacks %q:\n%s", want, b.String())
	}
	b.Reset()
	if err := report(&b, runs, "", "", "floor", 0); err != nil {
		t.Fatal(err)
	}
	if want := "| TLS handshake | 100.0 | 0.01 | 1.0 |"; !strings.Contains(b.String(), want) {
		t.Errorf("floor report lacks %q:\n%s", want, b.String())
	}
	b.Reset()
	if err := report(&b, runs, scale, seed, "scale", 1000000); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| 1,000,000 devices seeded | 4 | 450.0 |", "-10.0% of the empty-store rate: within the 20% target", "seeded 20 devices"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("scale report lacks %q:\n%s", want, b.String())
		}
	}
}
