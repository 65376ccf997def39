package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"testing"

	"github.com/lantls/lantls/doctor"
)

func TestDoctorFlags(t *testing.T) {
	runCases(t, []cliCase{
		{args: []string{"doctor", "--help"}, code: 0, stdout: "--resolver"},
		{args: []string{"doctor"}, code: 2, stderr: "give --device NAME|URL, --issuer URL or both"},
		{args: []string{"doctor", "--device", "http://tv.lan.test/"}, code: 2, stderr: "want a name such as"},
		{args: []string{"doctor", "--device", "tv.lan.test", "--resolver", "x"}, code: 2, stderr: "want an address such as"},
	})
}

// TestDoctorJSON checks that --json prints a report that parses, and that
// the exit status says a check failed. The resolver is a closed port on
// loopback: the machine's own resolver is never asked.
func TestDoctorJSON(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	resolver := pc.LocalAddr().String()
	pc.Close()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), &env{stdout: &stdout, stderr: &stderr},
		[]string{"doctor", "--json", "--device", "tv.lan.test", "--resolver", resolver, "--timeout", "200ms"})
	if code != 1 {
		t.Errorf("exit code %d, want 1; stderr %s", code, &stderr)
	}
	var r doctor.Report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s", err, &stdout)
	}
	if r.OK || len(r.Checks) == 0 || r.Checks[0].Name != "zone" || r.Checks[0].Status != doctor.Fail {
		t.Errorf("report %+v: want the zone check failed", r)
	}
}
