// Command agentbench measures the lantls agent for bench/agent.sh:
//
//	agentbench pairing  approve -> serving latency over N pairings
//	agentbench rss      RSS of a running agent serving K keep-alive clients
//
// Every address it touches is on 127.0.0.1.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: agentbench pairing|rss [flags]; see bench/agent.sh")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "pairing":
		err = pairing(os.Args[2:])
	case "rss":
		err = rss(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q: use pairing or rss", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "agentbench:", err)
		os.Exit(1)
	}
}

var codeLine = regexp.MustCompile(`code\s+([B-Z]{4}-[B-Z]{4})`)

// pairing starts N fresh agents one after another; for each it approves
// the code with `lantls admin pair approve` and times until a TLS
// handshake on the agent's port verifies against the root.
func pairing(args []string) error {
	fs := flag.NewFlagSet("pairing", flag.ExitOnError)
	lantls := fs.String("lantls", "", "lantls binary")
	agent := fs.String("agent", "", "lantls-agent binary")
	data := fs.String("issuer-data", "", "the running issuer's data dir")
	base := fs.String("issuer", "", "the issuer's base URL")
	n := fs.Int("n", 20, "pairings")
	work := fs.String("work", os.TempDir(), "work dir")
	fs.Parse(args)
	root := filepath.Join(*data, "ca", "root.pem")
	roots, err := loadRoots(root)
	if err != nil {
		return err
	}
	var fromClick, fromCommit []time.Duration
	for i := range *n {
		port, err := freePort()
		if err != nil {
			return err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		cmd := exec.Command(*agent, "--issuer", *base, "--issuer-ca", root, "--data", filepath.Join(*work, fmt.Sprintf("agent-%d", i)),
			"--proxy-to", "http://127.0.0.1:9", "--listen", addr, "--mdns=false", "--name-check=off", "--log-level", "warn")
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			return err
		}
		code, err := waitCode(out, 30*time.Second)
		if err != nil {
			cmd.Process.Kill()
			return err
		}
		click := time.Now()
		if b, err := exec.Command(*lantls, "admin", "--data", *data, "pair", "approve", code, "--owner", "bench", "--new-owner").CombinedOutput(); err != nil {
			cmd.Process.Kill()
			return fmt.Errorf("approve: %v: %s", err, b)
		}
		committed := time.Now()
		if err := waitServing(addr, roots, 30*time.Second); err != nil {
			cmd.Process.Kill()
			return err
		}
		done := time.Now()
		fromClick = append(fromClick, done.Sub(click))
		fromCommit = append(fromCommit, done.Sub(committed))
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		fmt.Fprintf(os.Stderr, "pairing %d: %v\n", i+1, done.Sub(click).Round(time.Millisecond))
	}
	fmt.Printf("pairings %d\n", *n)
	fmt.Printf("approve_cli_start_to_serving p50 %v p99 %v max %v\n", pct(fromClick, 50), pct(fromClick, 99), pct(fromClick, 100))
	fmt.Printf("approve_committed_to_serving p50 %v p99 %v max %v\n", pct(fromCommit, 50), pct(fromCommit, 99), pct(fromCommit, 100))
	return nil
}

// rss opens K keep-alive HTTPS connections to a running agent, makes a
// request on each, and reports the agent's resident set size.
func rss(args []string) error {
	fs := flag.NewFlagSet("rss", flag.ExitOnError)
	pid := fs.Int("pid", 0, "the agent's process ID")
	addr := fs.String("addr", "", "the agent's HTTPS address")
	root := fs.String("root", "", "root.pem")
	k := fs.Int("clients", 100, "keep-alive clients")
	rounds := fs.Int("rounds", 20, "requests per client")
	fs.Parse(args)
	roots, err := loadRoots(*root)
	if err != nil {
		return err
	}
	// The device's address-name for 127.0.0.1, from the certificate.
	probe, err := tls.Dial("tcp", *addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		return err
	}
	name := "127-0-0-1." + probe.ConnectionState().PeerCertificates[0].DNSNames[0]
	probe.Close()
	clients := make([]*http.Client, *k)
	for i := range clients {
		clients[i] = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: name}, ForceAttemptHTTP2: false, MaxIdleConnsPerHost: 1,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, *addr)
			}}}
	}
	errs := make(chan error, *k)
	for _, c := range clients {
		go func() {
			for range *rounds {
				resp, err := c.Get("https://device/")
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			errs <- nil
		}()
	}
	for range *k {
		if err := <-errs; err != nil {
			return err
		}
	}
	// All connections are open and idle now (keep-alive).
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", *pid))
	if err != nil {
		return err
	}
	for _, l := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(l, "VmRSS") || strings.HasPrefix(l, "VmHWM") {
			fmt.Println(strings.Join(strings.Fields(l), " "))
		}
	}
	fmt.Printf("clients %d requests %d\n", *k, *k**rounds)
	return nil
}

func waitCode(r io.Reader, timeout time.Duration) (string, error) {
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if m := codeLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		io.Copy(io.Discard, r)
	}()
	select {
	case c := <-found:
		return c, nil
	case <-time.After(timeout):
		return "", errors.New("no user code from the agent")
	}
}

// waitServing polls a TLS handshake every 5 ms until one verifies.
func waitServing(addr string, roots *x509.CertPool, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{RootCAs: roots, ServerName: "bench.invalid", InsecureSkipVerify: true})
		if err == nil {
			leaf := c.ConnectionState().PeerCertificates
			c.Close()
			inter := x509.NewCertPool()
			for _, x := range leaf[1:] {
				inter.AddCert(x)
			}
			if _, err := leaf[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter}); err == nil {
				return nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("%s not serving a verified certificate within %v", addr, timeout)
}

func loadRoots(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no certificate", path)
	}
	return p, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	i = min(max(i-1, 0), len(s)-1)
	return s[i].Round(time.Millisecond)
}
