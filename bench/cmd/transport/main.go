// Command transport prints the server CPU that the HTTPS requests of one
// issuance cost with nothing behind them: the TLS records, net/http and
// the loopback sockets, which an issuer pays on top of the floor
// (bench/floor) before any ACME, JSON or store work. It runs a TLS 1.3
// server like the issuer's (ECDSA P-256 certificate, the same timeouts)
// in a child process, whose handler reads each body and answers with
// headers and a body of the issuer's sizes, and drives it with --c
// HTTP/1.1 keep-alive clients (with --http2, HTTP/2 connections, which
// lantls-bench issue --http2 allows), each making the requests of
// bench/issue.go's lean client: a HEAD for a nonce and six POSTs. It
// prints the child's CPU time (user and system, from its rusage) per
// issuance.
//
//	transport [--n 20000] [--c 64] [--http2]
package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// step is one request of an issuance: its method, the size of its body
// (a JWS) and of the response body.
type step struct {
	method     string
	body, resp int
}

// issuance is the lean client's requests with the sizes the issuer sees
// for a device with two names: newNonce, newAccount (with EAB), newOrder,
// two authorizations, finalize (the CSR) and the certificate chain.
var issuance = []step{
	{http.MethodHead, 0, 0},
	{http.MethodPost, 900, 400},
	{http.MethodPost, 450, 700},
	{http.MethodPost, 400, 400},
	{http.MethodPost, 400, 400},
	{http.MethodPost, 1100, 700},
	{http.MethodPost, 400, 1700},
}

func main() {
	n := flag.Int("n", 20000, "issuances to make")
	c := flag.Int("c", 64, "issuances in flight (one keep-alive connection each)")
	h2 := flag.Bool("http2", false, "let the clients use HTTP/2 (default HTTP/1.1, as lantls-bench issue)")
	serve := flag.String("serve", "", "run as the server on `address` (the command starts itself so)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: transport [--n N] [--c C] [--http2]\n\nPrints the server CPU per issuance of its HTTPS requests alone, measured on this machine.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 || *n <= 0 || *c <= 0 {
		fmt.Fprintln(os.Stderr, "transport: --n and --c must be positive and there are no arguments (see --help)")
		os.Exit(2)
	}
	var err error
	if *serve != "" {
		err = server(*serve)
	} else {
		err = run(*n, *c, *h2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "transport: %v\n", err)
		os.Exit(1)
	}
}

// run starts the server as a child, makes n issuances against it and
// prints the child's CPU time per issuance.
func run(n, c int, h2 bool) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	ln.Close()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	child := exec.Command(self, "--serve", addr)
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		return err
	}
	defer child.Process.Kill()
	hc := &http.Client{Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true}, // the child's own certificate, on loopback
		MaxIdleConnsPerHost: 2 * c,
		DisableCompression:  true,
		ForceAttemptHTTP2:   h2,
	}}
	url := "https://" + addr + "/acme/x?n="
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		res, err := hc.Head(url + "0")
		if err == nil {
			res.Body.Close()
			break
		}
		if time.Since(start) > 10*time.Second {
			return fmt.Errorf("server on %s did not start: %w", addr, err)
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, c)
	start := time.Now()
	for range c {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				for _, s := range issuance {
					if err := do(hc, url, s); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	child.Process.Signal(syscall.SIGTERM)
	child.Wait()
	ru, ok := child.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return fmt.Errorf("no rusage for the server on this system")
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	proto := "HTTP/1.1"
	if h2 {
		proto = "HTTP/2"
	}
	fmt.Printf("%d issuances of %d requests over %s at c=%d in %v: server CPU %v, %.1f µs per issuance (startup and handshakes included)\n",
		n, len(issuance), proto, c, elapsed.Round(time.Millisecond), cpu.Round(time.Millisecond),
		float64(cpu.Microseconds())/float64(n))
	return nil
}

// do makes one request and reads the whole response.
func do(hc *http.Client, url string, s step) error {
	req, err := http.NewRequest(s.method, url+strconv.Itoa(s.resp), bytes.NewReader(make([]byte, s.body)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/jose+json")
	res, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if _, err := io.Copy(io.Discard, res.Body); err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", s.method, res.Status)
	}
	return nil
}

// server serves on addr until killed: each request's body is read and
// answered with the headers an ACME response carries and ?n= bytes.
func server(addr string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return err
	}
	bodies := map[string][]byte{}
	for _, s := range issuance {
		bodies[strconv.Itoa(s.resp)] = bytes.Repeat([]byte{'x'}, s.resp)
	}
	nonce := bytes.Repeat([]byte{'A'}, 43)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		b := bodies[r.URL.Query().Get("n")]
		w.Header().Set("Replay-Nonce", string(nonce))
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Link", `<https://`+addr+`/acme/directory>;rel="index"`)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
	})
	srv := &http.Server{
		Addr:              addr,
		Handler:           h,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	return srv.ListenAndServeTLS("", "")
}
