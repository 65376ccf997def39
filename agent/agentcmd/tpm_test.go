package agentcmd

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/lantls/lantls/internal/swtpmtest"
)

// TestTPMAK prints a software TPM's attestation key for the maker to
// certify.
func TestTPMAK(t *testing.T) {
	path := swtpmtest.Start(t)
	var out bytes.Buffer
	if err := Run(context.Background(), "lantls-agent", []string{"tpm-ak", "--tpm", path}, &out, &out); err != nil {
		t.Fatalf("tpm-ak: %v\n%s", err, &out)
	}
	b, _ := pem.Decode(out.Bytes())
	if b == nil || b.Type != "PUBLIC KEY" {
		t.Fatalf("tpm-ak printed %q", &out)
	}
	if _, err := x509.ParsePKIXPublicKey(b.Bytes); err != nil {
		t.Errorf("tpm-ak's key: %v", err)
	}
}

// TestTPMFlags refuses half a TPM configuration and the files mode with a
// TPM, saying what to do.
func TestTPMFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tpm", "/dev/tpmrm0"}, "--tpm needs --tpm-ak-cert"},
		{[]string{"--tpm-identifier", "SN-1"}, "need --tpm"},
		{[]string{"--tpm", "/dev/tpmrm0", "--tpm-ak-cert", "ak.pem", "--tpm-identifier", "A/B/1.2"}, "--tpm-identifier"},
		{[]string{"--tpm", "/dev/tpmrm0", "--tpm-ak-cert", "ak.pem", "--tpm-identifier", "SN-1", "--cert-file", "c", "--key-file", "k"}, "cannot be written to --key-file"},
		{[]string{"tpm-ak"}, "--tpm is required"},
	} {
		var out bytes.Buffer
		args := append([]string{"--issuer", "https://127.0.0.1:1", "--data", t.TempDir()}, tc.args...)
		if tc.args[0] == "tpm-ak" {
			args = tc.args
		}
		err := Run(context.Background(), "lantls-agent", args, &out, &out)
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want a usage error saying %q", tc.args, err, tc.want)
		}
	}
}
