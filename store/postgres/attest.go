package postgres

import (
	"context"
	"fmt"

	"github.com/lantls/lantls/store"
)

// The attestation area (migration 00120): rules per device model and the
// last attestation of each device.
const (
	qUpsertAttestPolicy = `INSERT INTO attest_policies (model, rule, actor, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (model) DO UPDATE SET rule = excluded.rule, actor = excluded.actor, updated_at = excluded.updated_at`
	qSelectAttestPolicy   = `SELECT model, rule, actor, updated_at FROM attest_policies WHERE model = $1`
	qSelectAttestPolicies = `SELECT model, rule, actor, updated_at FROM attest_policies ORDER BY model`
	qDeleteAttestPolicy   = `DELETE FROM attest_policies WHERE model = $1`
	qUpsertAttestation    = `INSERT INTO device_attestations (device_id, format, root, root_fingerprint, model,
		identifier_type, identifier_value, attested_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (device_id) DO UPDATE SET format = excluded.format, root = excluded.root,
		root_fingerprint = excluded.root_fingerprint, model = excluded.model, identifier_type = excluded.identifier_type,
		identifier_value = excluded.identifier_value, attested_at = excluded.attested_at`
	qSelectAttestation = `SELECT device_id, format, root, root_fingerprint, model, identifier_type, identifier_value,
		attested_at FROM device_attestations WHERE device_id = $1`
)

// SetAttestPolicy stores the rule of a model, replacing any.
func (t *txn) SetAttestPolicy(ctx context.Context, p *store.AttestPolicy) error {
	fillTime(&p.UpdatedAt)
	p.UpdatedAt = truncate(p.UpdatedAt)
	if _, err := t.exec(ctx, qUpsertAttestPolicy, p.Model, string(p.Rule), p.Actor, micros(p.UpdatedAt)); err != nil {
		return fmt.Errorf("set attestation rule of model %q: %w", p.Model, err)
	}
	return nil
}

// GetAttestPolicy returns the rule of a model.
func (t *txn) GetAttestPolicy(ctx context.Context, model string) (*store.AttestPolicy, error) {
	return get(ctx, t, qSelectAttestPolicy, scanAttestPolicy, "attestation rule of model", model)
}

// DeleteAttestPolicy removes the rule of a model, if there.
func (t *txn) DeleteAttestPolicy(ctx context.Context, model string) error {
	if _, err := t.exec(ctx, qDeleteAttestPolicy, model); err != nil {
		return fmt.Errorf("delete attestation rule of model %q: %w", model, err)
	}
	return nil
}

// ListAttestPolicies returns every rule, by model.
func (t *txn) ListAttestPolicies(ctx context.Context) ([]*store.AttestPolicy, error) {
	ps, err := list(ctx, t, qSelectAttestPolicies, scanAttestPolicy)
	if err != nil {
		return nil, fmt.Errorf("list attestation rules: %w", err)
	}
	return ps, nil
}

func scanAttestPolicy(r scanner) (*store.AttestPolicy, error) {
	var (
		p       store.AttestPolicy
		updated *int64
	)
	if err := r.Scan(&p.Model, &p.Rule, &p.Actor, &updated); err != nil {
		return nil, err
	}
	p.UpdatedAt = timeOf(updated)
	return &p, nil
}

// SetDeviceAttestation replaces the last attestation of a device.
func (t *txn) SetDeviceAttestation(ctx context.Context, a *store.DeviceAttestation) error {
	fillTime(&a.AttestedAt)
	a.AttestedAt = truncate(a.AttestedAt)
	_, err := t.exec(ctx, qUpsertAttestation, a.DeviceID, a.Format, a.Root, a.RootFingerprint, a.Model,
		a.Identifier.Type, a.Identifier.Value, micros(a.AttestedAt))
	if err != nil {
		return fmt.Errorf("set attestation of device %q: %w", a.DeviceID, err)
	}
	return nil
}

// GetDeviceAttestation returns the last attestation a device passed.
func (t *txn) GetDeviceAttestation(ctx context.Context, deviceID string) (*store.DeviceAttestation, error) {
	return get(ctx, t, qSelectAttestation, scanAttestation, "attestation of device", deviceID)
}

func scanAttestation(r scanner) (*store.DeviceAttestation, error) {
	var (
		a  store.DeviceAttestation
		at *int64
	)
	if err := r.Scan(&a.DeviceID, &a.Format, &a.Root, &a.RootFingerprint, &a.Model,
		&a.Identifier.Type, &a.Identifier.Value, &at); err != nil {
		return nil, err
	}
	a.AttestedAt = timeOf(at)
	return &a, nil
}
