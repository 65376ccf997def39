package store

import "time"

// AttestRule says whether the devices of one model must prove, with
// draft-ietf-acme-device-attest's device-attest-01 challenge, that their
// certificate key lives in hardware of a known maker.
type AttestRule string

// The rules an admin sets per model.
const (
	// AttestOff: orders carrying a device identifier are refused; the
	// pairing alone is the proof.
	AttestOff AttestRule = "off"
	// AttestOptional: a device may attest (and must then pass); one that
	// does not is issued on its pairing alone.
	AttestOptional AttestRule = "optional"
	// AttestRequired: no certificate without a verified attestation.
	AttestRequired AttestRule = "required"
)

// Valid reports whether r is one of the three rules.
func (r AttestRule) Valid() bool {
	return r == AttestOff || r == AttestOptional || r == AttestRequired
}

// AttestPolicy is the rule for the devices of one model (Device.Model, as
// reported at pairing; "" is the model of devices made for stock clients).
type AttestPolicy struct {
	Model     string
	Rule      AttestRule
	Actor     string // who set it: a user name, "cli"
	UpdatedAt time.Time
}

// DeviceAttestation is the last attestation a device passed: which format,
// which configured root its chain ended at, and what it proved.
type DeviceAttestation struct {
	DeviceID        string
	Format          string // "tpm" or "packed"
	Root            string // the root's subject, for people
	RootFingerprint string // lowercase hex SHA-256 of the root certificate
	Model           string // the device's model when it attested
	Identifier      Identifier
	AttestedAt      time.Time
}
