package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lantls/lantls/store"
)

// The pairing area (migration 00005), as store/sqlite/pairing.go.
const (
	pairingColumns = `id, device_code_hash, user_code, user_code_hash, client_id, model, hostname,
		key_jwk, key_thumbprint, label, source, status, interval_ms, owner_id, device_id, actor,
		last_polled, created_at, expires, decided_at, redeemed_at`
	tokenColumns = `id, hash, device_id, created_at, expires, revoked_at`
	auditColumns = `id, owner_id, actor, action, device_id, detail, created_at`

	qInsertPairing = `INSERT INTO pairings (` + pairingColumns + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)`
	qGetPairing             = `SELECT ` + pairingColumns + ` FROM pairings WHERE id = $1`
	qGetPairingByDeviceCode = `SELECT ` + pairingColumns + ` FROM pairings WHERE device_code_hash = $1`
	qGetPairingByUserCode   = `SELECT ` + pairingColumns + ` FROM pairings WHERE user_code_hash = $1`
	qUpdatePairing          = `UPDATE pairings SET status = $1, interval_ms = $2, owner_id = $3, device_id = $4, actor = $5,
		last_polled = $6, expires = $7, decided_at = $8, redeemed_at = $9
		WHERE id = $10 AND status = $11`
	qPairingExists       = `SELECT 1 FROM pairings WHERE id = $1`
	qListPairings        = `SELECT ` + pairingColumns + ` FROM pairings ORDER BY created_at, id`
	qListPairingsByOwner = `SELECT ` + pairingColumns + ` FROM pairings WHERE owner_id = $1 ORDER BY created_at, id`
	qDeletePairings      = `DELETE FROM pairings WHERE expires < $1`
	qInsertToken         = `INSERT INTO device_tokens (` + tokenColumns + `) VALUES ($1, $2, $3, $4, $5, $6)`
	qGetTokenByHash      = `SELECT ` + tokenColumns + ` FROM device_tokens WHERE hash = $1`
	qRevokeDeviceTokens  = `UPDATE device_tokens SET revoked_at = $1 WHERE device_id = $2 AND revoked_at IS NULL`
	qSetGrants           = `INSERT INTO device_grants (device_id, origins, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (device_id) DO UPDATE SET origins = excluded.origins, updated_at = excluded.updated_at`
	qGetGrants       = `SELECT device_id, origins, updated_at FROM device_grants WHERE device_id = $1`
	qInsertAudit     = `INSERT INTO audit_log (` + auditColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7)`
	qListAudit       = `SELECT ` + auditColumns + ` FROM audit_log ORDER BY created_at DESC, id DESC LIMIT $1`
	qListAuditBefore = `SELECT ` + auditColumns + ` FROM audit_log
		WHERE (created_at, id) < (SELECT created_at, id FROM audit_log WHERE id = $1)
		ORDER BY created_at DESC, id DESC LIMIT $2`
	qListAuditByOwner = `SELECT ` + auditColumns + ` FROM audit_log WHERE owner_id = $1
		ORDER BY created_at DESC, id DESC LIMIT $2`
	qListAuditByOwnerBefore = `SELECT ` + auditColumns + ` FROM audit_log
		WHERE owner_id = $1 AND (created_at, id) < (SELECT created_at, id FROM audit_log WHERE id = $2)
		ORDER BY created_at DESC, id DESC LIMIT $3`
)

// CreatePairing stores p, filling an empty ID and a zero CreatedAt.
func (t *txn) CreatePairing(ctx context.Context, p *store.Pairing) error {
	fillID(&p.ID)
	fillTime(&p.CreatedAt)
	err := t.atomic(ctx, func(t *txn) error {
		_, err := t.exec(ctx, qInsertPairing, p.ID, p.DeviceCodeHash, p.UserCode, p.UserCodeHash, p.ClientID,
			p.Model, p.Hostname, p.KeyJWK, p.KeyThumbprint, p.Label, p.Source, string(p.Status),
			p.Interval.Milliseconds(), p.OwnerID, p.DeviceID, p.Actor, micros(p.LastPolled),
			micros(p.CreatedAt), micros(p.Expires), micros(p.DecidedAt), micros(p.RedeemedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("create pairing %q: %w", p.ID, err)
	}
	return nil
}

// GetPairing returns the pairing with ID id.
func (t *txn) GetPairing(ctx context.Context, id string) (*store.Pairing, error) {
	return get(ctx, t, qGetPairing, scanPairing, "pairing", id)
}

// GetPairingByDeviceCode returns the pairing whose device code hashes to
// deviceCodeHash.
func (t *txn) GetPairingByDeviceCode(ctx context.Context, deviceCodeHash string) (*store.Pairing, error) {
	return get(ctx, t, qGetPairingByDeviceCode, scanPairing, "pairing by device code", deviceCodeHash)
}

// GetPairingByUserCode returns the pairing whose user code hashes to
// userCodeHash.
func (t *txn) GetPairingByUserCode(ctx context.Context, userCodeHash string) (*store.Pairing, error) {
	return get(ctx, t, qGetPairingByUserCode, scanPairing, "pairing by user code", userCodeHash)
}

// UpdatePairing writes the fields that change after creation, if the
// stored status is still expect.
func (t *txn) UpdatePairing(ctx context.Context, p *store.Pairing, expect store.Status) error {
	err := t.atomic(ctx, func(t *txn) error {
		return t.changeOne(ctx, qUpdatePairing, qPairingExists, p.ID,
			string(p.Status), p.Interval.Milliseconds(), p.OwnerID, p.DeviceID, p.Actor,
			micros(p.LastPolled), micros(p.Expires), micros(p.DecidedAt), micros(p.RedeemedAt), p.ID, string(expect))
	})
	if err != nil {
		return fmt.Errorf("update pairing %q: %w", p.ID, err)
	}
	return nil
}

// ListPairings returns pairings oldest first; an empty OwnerID lists all.
func (t *txn) ListPairings(ctx context.Context, f store.PairingFilter) ([]*store.Pairing, error) {
	var (
		ps  []*store.Pairing
		err error
	)
	if f.OwnerID == "" {
		ps, err = list(ctx, t, qListPairings, scanPairing)
	} else {
		ps, err = list(ctx, t, qListPairingsByOwner, scanPairing, f.OwnerID)
	}
	if err != nil {
		return nil, fmt.Errorf("list pairings: %w", err)
	}
	return ps, nil
}

// DeletePairings deletes pairings that expired before before.
func (t *txn) DeletePairings(ctx context.Context, before time.Time) (int, error) {
	var n int
	err := t.atomic(ctx, func(t *txn) (err error) {
		n, err = t.exec(ctx, qDeletePairings, before.UnixMicro())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete pairings: %w", err)
	}
	return n, nil
}

// CreateToken stores tok, filling an empty ID and a zero CreatedAt.
func (t *txn) CreateToken(ctx context.Context, tok *store.Token) error {
	fillID(&tok.ID)
	fillTime(&tok.CreatedAt)
	err := t.atomic(ctx, func(t *txn) error {
		_, err := t.exec(ctx, qInsertToken, tok.ID, tok.Hash, tok.DeviceID, micros(tok.CreatedAt),
			micros(tok.Expires), micros(tok.RevokedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("create token %q: %w", tok.ID, err)
	}
	return nil
}

// GetTokenByHash returns the token whose hash is hash.
func (t *txn) GetTokenByHash(ctx context.Context, hash string) (*store.Token, error) {
	return get(ctx, t, qGetTokenByHash, scanToken, "token", hash)
}

// RevokeDeviceTokens revokes every unrevoked token of a device.
func (t *txn) RevokeDeviceTokens(ctx context.Context, deviceID string, at time.Time) (int, error) {
	fillTime(&at)
	var n int
	err := t.atomic(ctx, func(t *txn) (err error) {
		n, err = t.exec(ctx, qRevokeDeviceTokens, micros(at), deviceID)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("revoke tokens of device %q: %w", deviceID, err)
	}
	return n, nil
}

// SetGrants replaces a device's origin grants.
func (t *txn) SetGrants(ctx context.Context, g *store.Grants) error {
	fillTime(&g.UpdatedAt)
	origins, err := marshal(g.Origins)
	if err == nil {
		err = t.atomic(ctx, func(t *txn) error {
			_, err := t.exec(ctx, qSetGrants, g.DeviceID, origins, micros(g.UpdatedAt))
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("set grants of device %q: %w", g.DeviceID, err)
	}
	return nil
}

// GetGrants returns a device's grants, empty if none were ever set.
func (t *txn) GetGrants(ctx context.Context, deviceID string) (*store.Grants, error) {
	g, err := get(ctx, t, qGetGrants, scanGrants, "grants", deviceID)
	if errors.Is(err, store.ErrNotFound) {
		return &store.Grants{DeviceID: deviceID, Origins: []string{}}, nil
	}
	return g, err
}

// AddAudit stores e, filling an empty ID and a zero CreatedAt.
func (t *txn) AddAudit(ctx context.Context, e *store.AuditEntry) error {
	fillID(&e.ID)
	fillTime(&e.CreatedAt)
	err := t.atomic(ctx, func(t *txn) error {
		_, err := t.exec(ctx, qInsertAudit, e.ID, e.OwnerID, e.Actor, e.Action, e.DeviceID, e.Detail,
			micros(e.CreatedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("add audit entry: %w", err)
	}
	return nil
}

// ListAudit returns audit entries newest first.
func (t *txn) ListAudit(ctx context.Context, f store.AuditFilter) ([]*store.AuditEntry, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	var (
		es  []*store.AuditEntry
		err error
	)
	switch {
	case f.OwnerID == "" && f.Before == "":
		es, err = list(ctx, t, qListAudit, scanAudit, limit)
	case f.OwnerID == "":
		es, err = list(ctx, t, qListAuditBefore, scanAudit, f.Before, limit)
	case f.Before == "":
		es, err = list(ctx, t, qListAuditByOwner, scanAudit, f.OwnerID, limit)
	default:
		es, err = list(ctx, t, qListAuditByOwnerBefore, scanAudit, f.OwnerID, f.Before, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("list audit entries: %w", err)
	}
	return es, nil
}

func scanPairing(r scanner) (*store.Pairing, error) {
	var (
		pr                                          store.Pairing
		intervalMS                                  int64
		polled, created, expires, decided, redeemed *int64
	)
	err := r.Scan(&pr.ID, &pr.DeviceCodeHash, &pr.UserCode, &pr.UserCodeHash, &pr.ClientID, &pr.Model,
		&pr.Hostname, &pr.KeyJWK, &pr.KeyThumbprint, &pr.Label, &pr.Source, &pr.Status, &intervalMS,
		&pr.OwnerID, &pr.DeviceID, &pr.Actor, &polled, &created, &expires, &decided, &redeemed)
	if err != nil {
		return nil, err
	}
	pr.Interval = time.Duration(intervalMS) * time.Millisecond
	pr.LastPolled, pr.CreatedAt, pr.Expires = timeOf(polled), timeOf(created), timeOf(expires)
	pr.DecidedAt, pr.RedeemedAt = timeOf(decided), timeOf(redeemed)
	return &pr, nil
}

func scanToken(r scanner) (*store.Token, error) {
	var (
		tok                       store.Token
		created, expires, revoked *int64
	)
	if err := r.Scan(&tok.ID, &tok.Hash, &tok.DeviceID, &created, &expires, &revoked); err != nil {
		return nil, err
	}
	tok.CreatedAt, tok.Expires, tok.RevokedAt = timeOf(created), timeOf(expires), timeOf(revoked)
	return &tok, nil
}

func scanGrants(r scanner) (*store.Grants, error) {
	var (
		g       store.Grants
		origins string
		updated *int64
	)
	if err := r.Scan(&g.DeviceID, &origins, &updated); err != nil {
		return nil, err
	}
	g.UpdatedAt = timeOf(updated)
	if err := json.Unmarshal([]byte(origins), &g.Origins); err != nil {
		return nil, fmt.Errorf("grants of device %q: %w", g.DeviceID, err)
	}
	if g.Origins == nil {
		g.Origins = []string{}
	}
	return &g, nil
}

func scanAudit(r scanner) (*store.AuditEntry, error) {
	var (
		e       store.AuditEntry
		created *int64
	)
	if err := r.Scan(&e.ID, &e.OwnerID, &e.Actor, &e.Action, &e.DeviceID, &e.Detail, &created); err != nil {
		return nil, err
	}
	e.CreatedAt = timeOf(created)
	return &e, nil
}
