package agent

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"

	"github.com/lantls/lantls/internal/atomicfile"
)

// Files is the files mode: it writes each new certificate as PEM files
// for servers that read them (nginx, lighttpd, ...) and then runs a reload
// hook. Use its Write method as Config.OnCertificate.
type Files struct {
	CertFile  string // leaf and intermediates, what most servers want
	KeyFile   string // the TLS key, mode 0600
	ChainFile string // intermediates only; empty means not written
	// Hook is run with sh -c after the files are written, with
	// LANTLS_CERT_FILE, LANTLS_KEY_FILE and LANTLS_CHAIN_FILE set; its
	// output is logged and a non-zero exit is an error (so the agent
	// reports it and runs the hook again later).
	Hook   string
	Logger *slog.Logger
}

// Write writes cert's files atomically (a reader sees the old file or the
// new one) and runs the hook.
func (f *Files) Write(ctx context.Context, cert *tls.Certificate) error {
	k, ok := cert.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return errors.New("write certificate files: the key is in hardware (an Attester's) and cannot be written to a file")
	}
	key, err := encodeKey(k)
	if err != nil {
		return err
	}
	// Key first: a server reloading between the writes then finds the new
	// key with the old certificate at worst for an instant, and the hook
	// runs only after both.
	if err := atomicfile.Write(f.KeyFile, key, 0o600); err != nil {
		return err
	}
	if err := atomicfile.Write(f.CertFile, encodeChain(cert.Certificate), 0o644); err != nil {
		return err
	}
	if f.ChainFile != "" {
		if err := atomicfile.Write(f.ChainFile, encodeChain(cert.Certificate[1:]), 0o644); err != nil {
			return err
		}
	}
	if f.Hook == "" {
		return nil
	}
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", f.Hook)
	cmd.Env = append(os.Environ(), "LANTLS_CERT_FILE="+f.CertFile, "LANTLS_KEY_FILE="+f.KeyFile, "LANTLS_CHAIN_FILE="+f.ChainFile)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if f.Logger != nil {
		f.Logger.Info("on-renew hook ran", "command", f.Hook, "output", strings.TrimSpace(out.String()), "err", err)
	}
	if err != nil {
		return fmt.Errorf("on-renew hook %q: %w: %s", f.Hook, err, strings.TrimSpace(lastLine(out.String())))
	}
	return nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
