package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lantls/lantls/store"
)

// The pairing area (migration 00005): pairings (RFC 8628), device bearer
// tokens, origin grants and the audit log. None of these is on the
// issuance path, so no backend caches them.

const (
	pairingColumns = `id, device_code_hash, user_code, user_code_hash, client_id, model, hostname,
		key_jwk, key_thumbprint, label, source, status, interval_ms, owner_id, device_id, actor,
		last_polled, created_at, expires, decided_at, redeemed_at`
	tokenColumns = `id, hash, device_id, created_at, expires, revoked_at`
	auditColumns = `id, owner_id, actor, action, device_id, detail, created_at`
)

var (
	insertPairing = stmt(`INSERT INTO pairings (` + pairingColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	getPairing             = stmt(`SELECT ` + pairingColumns + ` FROM pairings WHERE id = ?`)
	getPairingByDeviceCode = stmt(`SELECT ` + pairingColumns + ` FROM pairings WHERE device_code_hash = ?`)
	getPairingByUserCode   = stmt(`SELECT ` + pairingColumns + ` FROM pairings WHERE user_code_hash = ?`)
	updatePairing          = stmt(`UPDATE pairings SET status = ?, interval_ms = ?, owner_id = ?, device_id = ?, actor = ?,
		last_polled = ?, expires = ?, decided_at = ?, redeemed_at = ?
		WHERE id = ? AND status = ?`)
	pairingExists       = stmt(`SELECT 1 FROM pairings WHERE id = ?`)
	listPairings        = stmt(`SELECT ` + pairingColumns + ` FROM pairings ORDER BY created_at, id`)
	listPairingsByOwner = stmt(`SELECT ` + pairingColumns + ` FROM pairings WHERE owner_id = ? ORDER BY created_at, id`)
	deletePairings      = stmt(`DELETE FROM pairings WHERE expires < ?`)
	insertToken         = stmt(`INSERT INTO device_tokens (` + tokenColumns + `) VALUES (?, ?, ?, ?, ?, ?)`)
	getTokenByHash      = stmt(`SELECT ` + tokenColumns + ` FROM device_tokens WHERE hash = ?`)
	revokeDeviceTokens  = stmt(`UPDATE device_tokens SET revoked_at = ? WHERE device_id = ? AND revoked_at IS NULL`)
	setGrants           = stmt(`INSERT INTO device_grants (device_id, origins, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (device_id) DO UPDATE SET origins = excluded.origins, updated_at = excluded.updated_at`)
	getGrants       = stmt(`SELECT device_id, origins, updated_at FROM device_grants WHERE device_id = ?`)
	insertAudit     = blindWrite(`INSERT INTO audit_log (` + auditColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	listAudit       = stmt(`SELECT ` + auditColumns + ` FROM audit_log ORDER BY created_at DESC, id DESC LIMIT ?`)
	listAuditBefore = stmt(`SELECT ` + auditColumns + ` FROM audit_log
		WHERE (created_at, id) < (SELECT created_at, id FROM audit_log WHERE id = ?)
		ORDER BY created_at DESC, id DESC LIMIT ?`)
	listAuditByOwner = stmt(`SELECT ` + auditColumns + ` FROM audit_log WHERE owner_id = ?
		ORDER BY created_at DESC, id DESC LIMIT ?`)
	listAuditByOwnerBefore = stmt(`SELECT ` + auditColumns + ` FROM audit_log
		WHERE owner_id = ? AND (created_at, id) < (SELECT created_at, id FROM audit_log WHERE id = ?)
		ORDER BY created_at DESC, id DESC LIMIT ?`)
)

// CreatePairing stores p, filling an empty ID and a zero CreatedAt.
func (t Tx) CreatePairing(ctx context.Context, p *store.Pairing) error {
	fillID(&p.ID)
	fillTime(&p.CreatedAt)
	_, err := exec(ctx, t.DB, insertPairing, p.ID, p.DeviceCodeHash, p.UserCode, p.UserCodeHash, p.ClientID,
		p.Model, p.Hostname, p.KeyJWK, p.KeyThumbprint, p.Label, p.Source, string(p.Status),
		p.Interval.Milliseconds(), p.OwnerID, p.DeviceID, p.Actor, micros(p.LastPolled),
		micros(p.CreatedAt), micros(p.Expires), micros(p.DecidedAt), micros(p.RedeemedAt))
	if err != nil {
		return fmt.Errorf("create pairing %q: %w", p.ID, err)
	}
	return nil
}

// GetPairing returns the pairing with ID id.
func (t Tx) GetPairing(ctx context.Context, id string) (*store.Pairing, error) {
	return get(ctx, t.DB, getPairing, scanPairing, "pairing", id)
}

// GetPairingByDeviceCode returns the pairing whose device code hashes to
// deviceCodeHash.
func (t Tx) GetPairingByDeviceCode(ctx context.Context, deviceCodeHash string) (*store.Pairing, error) {
	return get(ctx, t.DB, getPairingByDeviceCode, scanPairing, "pairing by device code", deviceCodeHash)
}

// GetPairingByUserCode returns the pairing whose user code hashes to
// userCodeHash.
func (t Tx) GetPairingByUserCode(ctx context.Context, userCodeHash string) (*store.Pairing, error) {
	return get(ctx, t.DB, getPairingByUserCode, scanPairing, "pairing by user code", userCodeHash)
}

// UpdatePairing writes the fields that change after creation, if the
// stored status is still expect.
func (t Tx) UpdatePairing(ctx context.Context, p *store.Pairing, expect store.Status) error {
	err := changeOne(ctx, t.DB, None, updatePairing, pairingExists, p.ID,
		string(p.Status), p.Interval.Milliseconds(), p.OwnerID, p.DeviceID, p.Actor,
		micros(p.LastPolled), micros(p.Expires), micros(p.DecidedAt), micros(p.RedeemedAt), p.ID, string(expect))
	if err != nil {
		return fmt.Errorf("update pairing %q: %w", p.ID, err)
	}
	return nil
}

// ListPairings returns pairings oldest first; an empty OwnerID lists all.
func (t Tx) ListPairings(ctx context.Context, f store.PairingFilter) ([]*store.Pairing, error) {
	ps, err := listOwned(ctx, t.DB, listPairings, listPairingsByOwner, scanPairing, f.OwnerID)
	if err != nil {
		return nil, fmt.Errorf("list pairings: %w", err)
	}
	return ps, nil
}

// DeletePairings deletes pairings that expired before before.
func (t Tx) DeletePairings(ctx context.Context, before time.Time) (int, error) {
	n, err := exec(ctx, t.DB, deletePairings, before.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("delete pairings: %w", err)
	}
	return n, nil
}

// CreateToken stores tok, filling an empty ID and a zero CreatedAt.
func (t Tx) CreateToken(ctx context.Context, tok *store.Token) error {
	fillID(&tok.ID)
	fillTime(&tok.CreatedAt)
	_, err := exec(ctx, t.DB, insertToken, tok.ID, tok.Hash, tok.DeviceID, micros(tok.CreatedAt),
		micros(tok.Expires), micros(tok.RevokedAt))
	if err != nil {
		return fmt.Errorf("create token %q: %w", tok.ID, err)
	}
	return nil
}

// GetTokenByHash returns the token whose hash is hash.
func (t Tx) GetTokenByHash(ctx context.Context, hash string) (*store.Token, error) {
	return get(ctx, t.DB, getTokenByHash, scanToken, "token", hash)
}

// RevokeDeviceTokens revokes every unrevoked token of a device.
func (t Tx) RevokeDeviceTokens(ctx context.Context, deviceID string, at time.Time) (int, error) {
	fillTime(&at)
	n, err := exec(ctx, t.DB, revokeDeviceTokens, micros(at), deviceID)
	if err != nil {
		return 0, fmt.Errorf("revoke tokens of device %q: %w", deviceID, err)
	}
	return n, nil
}

// SetGrants replaces a device's origin grants.
func (t Tx) SetGrants(ctx context.Context, g *store.Grants) error {
	fillTime(&g.UpdatedAt)
	origins, err := marshal(g.Origins)
	if err == nil {
		_, err = exec(ctx, t.DB, setGrants, g.DeviceID, origins, micros(g.UpdatedAt))
	}
	if err != nil {
		return fmt.Errorf("set grants of device %q: %w", g.DeviceID, err)
	}
	return nil
}

// GetGrants returns a device's grants, empty if none were ever set.
func (t Tx) GetGrants(ctx context.Context, deviceID string) (*store.Grants, error) {
	g, err := get(ctx, t.DB, getGrants, scanGrants, "grants", deviceID)
	if errors.Is(err, store.ErrNotFound) {
		return &store.Grants{DeviceID: deviceID, Origins: []string{}}, nil
	}
	return g, err
}

// AddAudit stores e, filling an empty ID and a zero CreatedAt.
func (t Tx) AddAudit(ctx context.Context, e *store.AuditEntry) error {
	fillID(&e.ID)
	fillTime(&e.CreatedAt)
	_, err := exec(ctx, t.DB, insertAudit, e.ID, e.OwnerID, e.Actor, e.Action, e.DeviceID, e.Detail,
		micros(e.CreatedAt))
	if err != nil {
		return fmt.Errorf("add audit entry: %w", err)
	}
	return nil
}

// ListAudit returns audit entries newest first.
func (t Tx) ListAudit(ctx context.Context, f store.AuditFilter) ([]*store.AuditEntry, error) {
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
		es, err = list(ctx, t.DB, listAudit, scanAudit, limit)
	case f.OwnerID == "":
		es, err = list(ctx, t.DB, listAuditBefore, scanAudit, f.Before, limit)
	case f.Before == "":
		es, err = list(ctx, t.DB, listAuditByOwner, scanAudit, f.OwnerID, limit)
	default:
		es, err = list(ctx, t.DB, listAuditByOwnerBefore, scanAudit, f.OwnerID, f.Before, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("list audit entries: %w", err)
	}
	return es, nil
}

func scanPairing(r Scanner) (*store.Pairing, error) {
	var (
		pr         store.Pairing
		intervalMS int64
	)
	err := r.Scan(&pr.ID, &pr.DeviceCodeHash, &pr.UserCode, &pr.UserCodeHash, &pr.ClientID, &pr.Model,
		&pr.Hostname, &pr.KeyJWK, &pr.KeyThumbprint, &pr.Label, &pr.Source, (*string)(&pr.Status), &intervalMS,
		&pr.OwnerID, &pr.DeviceID, &pr.Actor, asTime(&pr.LastPolled), asTime(&pr.CreatedAt), asTime(&pr.Expires),
		asTime(&pr.DecidedAt), asTime(&pr.RedeemedAt))
	if err != nil {
		return nil, err
	}
	pr.Interval = time.Duration(intervalMS) * time.Millisecond
	return &pr, nil
}

func scanToken(r Scanner) (*store.Token, error) {
	var tok store.Token
	if err := r.Scan(&tok.ID, &tok.Hash, &tok.DeviceID, asTime(&tok.CreatedAt), asTime(&tok.Expires), asTime(&tok.RevokedAt)); err != nil {
		return nil, err
	}
	return &tok, nil
}

func scanGrants(r Scanner) (*store.Grants, error) {
	var (
		g       store.Grants
		origins string
	)
	if err := r.Scan(&g.DeviceID, &origins, asTime(&g.UpdatedAt)); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(origins), &g.Origins); err != nil {
		return nil, fmt.Errorf("grants of device %q: %w", g.DeviceID, err)
	}
	if g.Origins == nil {
		g.Origins = []string{}
	}
	return &g, nil
}

func scanAudit(r Scanner) (*store.AuditEntry, error) {
	var e store.AuditEntry
	if err := r.Scan(&e.ID, &e.OwnerID, &e.Actor, &e.Action, &e.DeviceID, &e.Detail, asTime(&e.CreatedAt)); err != nil {
		return nil, err
	}
	return &e, nil
}
