// Package upstreamca runs the public CA of `lantls demo --upstream`:
// Pebble, Let's Encrypt's test CA, as its own process (the lantls-pebble
// command), so that Pebble is never linked into the lantls binary.
//
// The command prints one JSON line, a Ready, once Pebble serves, and
// stops when its standard input closes, so it never outlives the demo
// that started it, even after a kill -9.
package upstreamca

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Command is the name of the command that runs Pebble, and Package the Go
// package that builds it.
const (
	Command = "lantls-pebble"
	Package = "github.com/lantls/lantls/demo/cmd/lantls-pebble"
	module  = "github.com/lantls/lantls"
)

// Ready is the line the command prints once Pebble serves.
type Ready struct {
	Directory string `json:"directory"` // ACME directory URL
	// DNS is the loopback host:port Pebble's validation authority asks:
	// the issuer's DNS must listen there. It was free for TCP and UDP
	// when the command started.
	DNS        string `json:"dns"`
	TLSRootPEM string `json:"tls_root_pem"` // verifies Pebble's own HTTPS
	RootPEM    string `json:"root_pem"`     // the root of what Pebble issues
}

// Root parses RootPEM.
func (r *Ready) Root() (*x509.Certificate, error) {
	b, _ := pem.Decode([]byte(r.RootPEM))
	if b == nil {
		return nil, errors.New("no PEM root in the ready line")
	}
	return x509.ParseCertificate(b.Bytes)
}

// Process is a running lantls-pebble.
type Process struct {
	Ready
	cmd   *exec.Cmd
	stdin io.Closer
}

// Start starts the command at path and waits until Pebble serves.
func Start(ctx context.Context, path string) (*Process, error) {
	cmd := exec.Command(path)
	var stderr bytes.Buffer // its errors: read only after Wait
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	p := &Process{cmd: cmd, stdin: stdin}
	line := make(chan error, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		s.Buffer(nil, 1<<20)
		if !s.Scan() {
			line <- fmt.Errorf("%s exited before it was ready", path)
			return
		}
		line <- json.Unmarshal(s.Bytes(), &p.Ready)
		io.Copy(io.Discard, stdout)
	}()
	select {
	case err = <-line:
	case <-ctx.Done():
		err = ctx.Err()
	case <-time.After(time.Minute):
		err = fmt.Errorf("%s was not ready within a minute", path)
	}
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("%w %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	return p, nil
}

// Close stops the command and waits for it.
func (p *Process) Close() error {
	p.stdin.Close()
	p.cmd.Process.Signal(syscall.SIGTERM)
	return p.cmd.Wait()
}

// Find returns the path of the command: pebble if not empty, else
// lantls-pebble beside the running executable or in PATH. In a source
// tree of this module with the Go toolchain (`go run ./cmd/lantls demo
// --upstream`) it builds the command into dir, saying so on out.
func Find(ctx context.Context, pebble, dir string, out io.Writer) (string, error) {
	if pebble != "" {
		return pebble, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), Command)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	if p, err := exec.LookPath(Command); err == nil {
		return p, nil
	}
	mod, err := exec.CommandContext(ctx, "go", "list", "-m").Output()
	if err != nil || strings.TrimSpace(string(mod)) != module {
		return "", fmt.Errorf("%s (Pebble, kept out of the lantls binary) is not beside lantls or in PATH: build it in the lantls source tree with 'go build ./demo/cmd/%s' and put it in PATH, or pass its path with --pebble", Command, Command)
	}
	fmt.Fprintf(out, "  building %s from the source tree (once; Go caches it)\n", Command)
	p := filepath.Join(dir, Command)
	if b, err := exec.CommandContext(ctx, "go", "build", "-o", p, Package).CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", Package, err, b)
	}
	return p, nil
}
