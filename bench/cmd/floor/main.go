// Command floor prints the CPU floor of one issuance on this machine: the
// cryptography the server cannot avoid (package bench/floor), as a
// Markdown table or, with --json, as JSON.
//
//	go run ./bench/cmd/floor [--handshakes N] [--jws N] [--json]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/lantls/lantls/bench/floor"
)

func main() {
	c := floor.Issuance
	flag.Float64Var(&c.Handshakes, "handshakes", c.Handshakes, "full TLS handshakes per issuance (0 to 1; bench/issue.sh measures it)")
	flag.IntVar(&c.JWS, "jws", c.JWS, "signed requests per issuance")
	asJSON := flag.Bool("json", false, "print JSON instead of a Markdown table")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: floor [--handshakes N] [--jws N] [--json]\n\nPrints the CPU time of the cryptography one issuance cannot avoid on the server, measured on this machine.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "floor: unexpected argument %q (see --help)\n", flag.Arg(0))
		os.Exit(2)
	}
	if c.Handshakes < 0 || c.JWS < 0 {
		fmt.Fprintln(os.Stderr, "floor: --handshakes and --jws must not be negative")
		os.Exit(2)
	}
	res, err := floor.Measure(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if *asJSON {
		json.NewEncoder(os.Stdout).Encode(res)
		return
	}
	fmt.Print(res)
}
