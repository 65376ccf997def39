package agentcmd

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/lantls/lantls/agent"
	"github.com/lantls/lantls/attest"
)

// tpmOptions are the flags of the TPM 2.0 attester (device-attest-01).
type tpmOptions struct {
	path, akCert, identifier, identifierType string
}

func (t *tpmOptions) add(fs *flag.FlagSet) {
	fs.StringVar(&t.path, "tpm", "", "prove the certificate key is in this TPM 2.0 (ACME device-attest-01): a `device` such as /dev/tpmrm0, or unix:PATH of swtpm; needs --tpm-ak-cert and --tpm-identifier")
	fs.StringVar(&t.akCert, "tpm-ak-cert", "", "PEM `file` of the certificate chain (leaf first) the maker's attestation CA issued for the TPM's attestation key ('tpm-ak' prints that key)")
	fs.StringVar(&t.identifier, "tpm-identifier", "", "the device `identifier` the attestation key's certificate carries, e.g. its serial number")
	fs.StringVar(&t.identifierType, "tpm-identifier-type", attest.PermanentIdentifier, "`type` of --tpm-identifier: permanent-identifier or hardware-module (SERIAL/TYPE-OID)")
}

// check refuses a half-given TPM configuration and the files mode, which
// would need the key in a file.
func (t *tpmOptions) check(filesMode bool) error {
	if t.path == "" {
		if t.akCert != "" || t.identifier != "" {
			return usagef("--tpm-ak-cert and --tpm-identifier need --tpm, the TPM to attest with")
		}
		return nil
	}
	if t.akCert == "" || t.identifier == "" {
		return usagef("--tpm needs --tpm-ak-cert (the attestation key's certificate) and --tpm-identifier (the device's serial it carries)")
	}
	if err := attest.ValidIdentifier(t.identifierType, t.identifier); err != nil {
		return usagef("--tpm-identifier: %v", err)
	}
	if filesMode {
		return usagef("--tpm keeps the key in the TPM, so it cannot be written to --key-file: use the proxy mode or no mode")
	}
	return nil
}

// attester opens the TPM and returns its attester, and a function that
// closes both; nil without --tpm.
func (t *tpmOptions) attester() (agent.Attester, func(), error) {
	if t.path == "" {
		return nil, func() {}, nil
	}
	chain, err := readChain(t.akCert)
	if err != nil {
		return nil, nil, fmt.Errorf("--tpm-ak-cert: %w", err)
	}
	tpm, err := agent.OpenTPM(t.path)
	if err != nil {
		return nil, nil, fmt.Errorf("--tpm: %w", err)
	}
	att, err := agent.NewTPMAttester(tpm, agent.TPMConfig{AKChain: chain, IdentifierType: t.identifierType, Identifier: t.identifier})
	if err != nil {
		tpm.Close()
		return nil, nil, err
	}
	return att, func() { att.Close(); tpm.Close() }, nil
}

func readChain(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var chain [][]byte
	for {
		var block *pem.Block
		if block, b = pem.Decode(b); block == nil {
			break
		}
		if block.Type == "CERTIFICATE" {
			chain = append(chain, block.Bytes)
		}
	}
	if len(chain) == 0 {
		return nil, errors.New("no PEM certificate in it")
	}
	return chain, nil
}

// runTPMAK prints the public attestation key of a TPM, for the maker's
// attestation CA to certify with the device's identifier.
func runTPMAK(_ context.Context, prog string, args []string, stdout, _ io.Writer) error {
	fs := newFlags(prog+" tpm-ak", prog+` tpm-ak --tpm DEVICE

Prints the public attestation key (PEM) of the TPM 2.0 at DEVICE
(/dev/tpmrm0, or unix:PATH of swtpm), which the TPM derives again at every
start. The maker's attestation CA certifies it, with the extended key
usage tcg-kp-AIKCertificate and the device's serial as a
PermanentIdentifier subjectAltName; the agent then runs with --tpm,
--tpm-ak-cert and --tpm-identifier.`, stdout)
	path := fs.String("tpm", "", "the TPM `device`, e.g. /dev/tpmrm0, or unix:PATH of swtpm")
	if err := parse(fs, prog+" tpm-ak", args); err != nil {
		return err
	}
	if *path == "" {
		return usagef("--tpm is required: the TPM device, e.g. --tpm /dev/tpmrm0")
	}
	tpm, err := agent.OpenTPM(*path)
	if err != nil {
		return err
	}
	defer tpm.Close()
	pub, err := agent.TPMAttestationKey(tpm)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return err
	}
	return pem.Encode(stdout, &pem.Block{Type: "PUBLIC KEY", Bytes: der})
}
