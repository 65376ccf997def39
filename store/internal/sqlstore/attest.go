package sqlstore

import (
	"context"
	"fmt"

	"github.com/lantls/lantls/store"
)

// The attestation area (migration 00120): rules per device model and the
// last attestation of each device.

var (
	upsertAttestPolicy = stmt(`INSERT INTO attest_policies (model, rule, actor, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (model) DO UPDATE SET rule = excluded.rule, actor = excluded.actor, updated_at = excluded.updated_at`)
	selectAttestPolicy   = stmt(`SELECT model, rule, actor, updated_at FROM attest_policies WHERE model = ?`)
	selectAttestPolicies = stmt(`SELECT model, rule, actor, updated_at FROM attest_policies ORDER BY model`)
	deleteAttestPolicy   = stmt(`DELETE FROM attest_policies WHERE model = ?`)
	upsertAttestation    = stmt(`INSERT INTO device_attestations (device_id, format, root, root_fingerprint, model,
		identifier_type, identifier_value, attested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (device_id) DO UPDATE SET format = excluded.format, root = excluded.root,
		root_fingerprint = excluded.root_fingerprint, model = excluded.model, identifier_type = excluded.identifier_type,
		identifier_value = excluded.identifier_value, attested_at = excluded.attested_at`)
	selectAttestation = stmt(`SELECT device_id, format, root, root_fingerprint, model, identifier_type, identifier_value,
		attested_at FROM device_attestations WHERE device_id = ?`)
)

// SetAttestPolicy stores the rule of a model, replacing any.
func (t Tx) SetAttestPolicy(ctx context.Context, p *store.AttestPolicy) error {
	fillTime(&p.UpdatedAt)
	p.UpdatedAt = Truncate(p.UpdatedAt)
	_, err := t.DB.Exec(ctx, Change{Kind: AttestPolicies, Key: p.Model}, upsertAttestPolicy, p.Model, string(p.Rule), p.Actor, micros(p.UpdatedAt))
	if err != nil {
		return fmt.Errorf("set attestation rule of model %q: %w", p.Model, err)
	}
	return nil
}

// GetAttestPolicy returns the rule of a model.
func (t Tx) GetAttestPolicy(ctx context.Context, model string) (*store.AttestPolicy, error) {
	return get(ctx, t.DB, selectAttestPolicy, scanAttestPolicy, "attestation rule of model", model)
}

// DeleteAttestPolicy removes the rule of a model, if there.
func (t Tx) DeleteAttestPolicy(ctx context.Context, model string) error {
	if _, err := t.DB.Exec(ctx, Change{Kind: AttestPolicies, Key: model}, deleteAttestPolicy, model); err != nil {
		return fmt.Errorf("delete attestation rule of model %q: %w", model, err)
	}
	return nil
}

// ListAttestPolicies returns every rule, by model.
func (t Tx) ListAttestPolicies(ctx context.Context) ([]*store.AttestPolicy, error) {
	ps, err := list(ctx, t.DB, selectAttestPolicies, scanAttestPolicy)
	if err != nil {
		return nil, fmt.Errorf("list attestation rules: %w", err)
	}
	return ps, nil
}

// SetDeviceAttestation replaces the last attestation of a device.
func (t Tx) SetDeviceAttestation(ctx context.Context, a *store.DeviceAttestation) error {
	fillTime(&a.AttestedAt)
	a.AttestedAt = Truncate(a.AttestedAt)
	_, err := exec(ctx, t.DB, upsertAttestation, a.DeviceID, a.Format, a.Root, a.RootFingerprint, a.Model,
		a.Identifier.Type, a.Identifier.Value, micros(a.AttestedAt))
	if err != nil {
		return fmt.Errorf("set attestation of device %q: %w", a.DeviceID, err)
	}
	return nil
}

// GetDeviceAttestation returns the last attestation a device passed.
func (t Tx) GetDeviceAttestation(ctx context.Context, deviceID string) (*store.DeviceAttestation, error) {
	return get(ctx, t.DB, selectAttestation, scanAttestation, "attestation of device", deviceID)
}

func scanAttestPolicy(r Scanner) (*store.AttestPolicy, error) {
	var p store.AttestPolicy
	if err := r.Scan(&p.Model, (*string)(&p.Rule), &p.Actor, asTime(&p.UpdatedAt)); err != nil {
		return nil, err
	}
	return &p, nil
}

func scanAttestation(r Scanner) (*store.DeviceAttestation, error) {
	var a store.DeviceAttestation
	if err := r.Scan(&a.DeviceID, &a.Format, &a.Root, &a.RootFingerprint, &a.Model,
		&a.Identifier.Type, &a.Identifier.Value, asTime(&a.AttestedAt)); err != nil {
		return nil, err
	}
	return &a, nil
}
