package agent

import (
	"context"
	"crypto"
)

// Attester proves to the issuer that the device's certificate key lives in
// hardware of a known maker, with the device-attest-01 challenge of
// draft-ietf-acme-device-attest. Makers plug in their secure element or
// TPM; NewTPMAttester serves a TPM 2.0 and NewSoftwareAttester tests.
//
// With Config.Attester set the agent adds Identifier to its orders,
// answers the issuer's device-attest-01 challenge with Attest, and uses
// Key, never a key of its own, for its certificates; the issuer checks
// that the certificate request's key is the attested one. An issuer that
// takes no attestation from the device's model refuses the identifier;
// the agent then orders without it, still for Key.
type Attester interface {
	// Identifier is the identifier the attestation proves, as the draft
	// writes it in an order: type "permanent-identifier" (a serial number,
	// optionally "/assigner-OID") or "hardware-module" ("serial/type-OID").
	Identifier() (typ, value string)
	// Key returns the certificate key. Its private half never leaves the
	// hardware, and it is the same key on every call and after a restart,
	// so that a stored certificate stays usable.
	Key(ctx context.Context) (crypto.Signer, error)
	// Attest returns the WebAuthn attestation object (CBOR) that attests
	// Key for the key authorization of a device-attest-01 challenge.
	Attest(ctx context.Context, keyAuthorization string) ([]byte, error)
}
