package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/lantls/lantls/store"
)

// The attestation area (migration 00120): rules per device model and the
// last attestation of each device. Admins and attesting devices write them
// rarely, so the statements are not prepared with the hot ones.
const (
	upsertAttestPolicy = `INSERT INTO attest_policies (model, rule, actor, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (model) DO UPDATE SET rule = excluded.rule, actor = excluded.actor, updated_at = excluded.updated_at`
	selectAttestPolicy   = `SELECT model, rule, actor, updated_at FROM attest_policies WHERE model = ?`
	selectAttestPolicies = `SELECT model, rule, actor, updated_at FROM attest_policies ORDER BY model`
	deleteAttestPolicy   = `DELETE FROM attest_policies WHERE model = ?`
	upsertAttestation    = `INSERT INTO device_attestations (device_id, format, root, root_fingerprint, model,
		identifier_type, identifier_value, attested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (device_id) DO UPDATE SET format = excluded.format, root = excluded.root,
		root_fingerprint = excluded.root_fingerprint, model = excluded.model, identifier_type = excluded.identifier_type,
		identifier_value = excluded.identifier_value, attested_at = excluded.attested_at`
	selectAttestation = `SELECT device_id, format, root, root_fingerprint, model, identifier_type, identifier_value,
		attested_at FROM device_attestations WHERE device_id = ?`
)

// SetAttestPolicy stores the rule of a model, replacing any.
func (t *txn) SetAttestPolicy(ctx context.Context, p *store.AttestPolicy) error {
	fillTime(&p.UpdatedAt)
	p.UpdatedAt = truncate(p.UpdatedAt)
	err := t.atomic(ctx, func(t *txn) error {
		return t.execUnprepared(ctx, upsertAttestPolicy, p.Model, string(p.Rule), p.Actor, micros(p.UpdatedAt))
	})
	if err != nil {
		return fmt.Errorf("set attestation rule of model %q: %w", p.Model, err)
	}
	return nil
}

// GetAttestPolicy returns the rule of a model.
func (t *txn) GetAttestPolicy(ctx context.Context, model string) (*store.AttestPolicy, error) {
	ps, err := t.listPolicies(ctx, selectAttestPolicy, model)
	if err == nil && len(ps) == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get attestation rule of model %q: %w", model, err)
	}
	return ps[0], nil
}

// DeleteAttestPolicy removes the rule of a model, if there.
func (t *txn) DeleteAttestPolicy(ctx context.Context, model string) error {
	err := t.atomic(ctx, func(t *txn) error { return t.execUnprepared(ctx, deleteAttestPolicy, model) })
	if err != nil {
		return fmt.Errorf("delete attestation rule of model %q: %w", model, err)
	}
	return nil
}

// ListAttestPolicies returns every rule, by model.
func (t *txn) ListAttestPolicies(ctx context.Context) ([]*store.AttestPolicy, error) {
	ps, err := t.listPolicies(ctx, selectAttestPolicies)
	if err != nil {
		return nil, fmt.Errorf("list attestation rules: %w", err)
	}
	return ps, nil
}

func (t *txn) listPolicies(ctx context.Context, text string, args ...any) ([]*store.AttestPolicy, error) {
	ctx, err := brief(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := t.queryText(ctx, text, args...)
	if err != nil {
		return nil, err
	}
	return scanAll(rows, scanAttestPolicy)
}

func scanAttestPolicy(r scanner) (*store.AttestPolicy, error) {
	var (
		p       store.AttestPolicy
		updated sql.NullInt64
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
	err := t.atomic(ctx, func(t *txn) error {
		return t.execUnprepared(ctx, upsertAttestation, a.DeviceID, a.Format, a.Root, a.RootFingerprint, a.Model,
			a.Identifier.Type, a.Identifier.Value, micros(a.AttestedAt))
	})
	if err != nil {
		return fmt.Errorf("set attestation of device %q: %w", a.DeviceID, err)
	}
	return nil
}

// GetDeviceAttestation returns the last attestation a device passed.
func (t *txn) GetDeviceAttestation(ctx context.Context, deviceID string) (*store.DeviceAttestation, error) {
	ctx, err := brief(ctx)
	var as []*store.DeviceAttestation
	if err == nil {
		var rows *sql.Rows
		if rows, err = t.queryText(ctx, selectAttestation, deviceID); err == nil {
			as, err = scanAll(rows, scanAttestation)
		}
	}
	if err == nil && len(as) == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get attestation of device %q: %w", deviceID, err)
	}
	return as[0], nil
}

func scanAttestation(r scanner) (*store.DeviceAttestation, error) {
	var (
		a  store.DeviceAttestation
		at sql.NullInt64
	)
	if err := r.Scan(&a.DeviceID, &a.Format, &a.Root, &a.RootFingerprint, &a.Model,
		&a.Identifier.Type, &a.Identifier.Value, &at); err != nil {
		return nil, err
	}
	a.AttestedAt = timeOf(at)
	return &a, nil
}
