package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lantls/lantls/store"
)

// The pairing stream's part of store.Tx: pairings (RFC 8628), device
// bearer tokens, origin grants and the audit log. None of these is on the
// issuance path, so none is cached.

// CreatePairing stores p, filling an empty ID and a zero CreatedAt.
func (t *txn) CreatePairing(ctx context.Context, p *store.Pairing) error {
	fillID(&p.ID)
	fillTime(&p.CreatedAt)
	err := t.atomic(ctx, func(t *txn) error {
		_, err := t.exec(ctx, insertPairing, p.ID, p.DeviceCodeHash, p.UserCode, p.UserCodeHash, p.ClientID,
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
	return get(ctx, t, getPairing, scanPairing, "pairing", id)
}

// GetPairingByDeviceCode returns the pairing whose device code hashes to
// deviceCodeHash.
func (t *txn) GetPairingByDeviceCode(ctx context.Context, deviceCodeHash string) (*store.Pairing, error) {
	return get(ctx, t, getPairingByDeviceCode, scanPairing, "pairing by device code", deviceCodeHash)
}

// GetPairingByUserCode returns the pairing whose user code hashes to
// userCodeHash.
func (t *txn) GetPairingByUserCode(ctx context.Context, userCodeHash string) (*store.Pairing, error) {
	return get(ctx, t, getPairingByUserCode, scanPairing, "pairing by user code", userCodeHash)
}

// UpdatePairing writes the fields that change after creation, if the
// stored status is still expect.
func (t *txn) UpdatePairing(ctx context.Context, p *store.Pairing, expect store.Status) error {
	err := t.atomic(ctx, func(t *txn) error {
		return t.changeOne(ctx, updatePairing, pairingExists, p.ID,
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
	ps, err := listOwned(ctx, t, listPairings, listPairingsByOwner, scanPairing, f.OwnerID)
	if err != nil {
		return nil, fmt.Errorf("list pairings: %w", err)
	}
	return ps, nil
}

// DeletePairings deletes pairings that expired before before.
func (t *txn) DeletePairings(ctx context.Context, before time.Time) (int, error) {
	var n int
	err := t.atomic(ctx, func(t *txn) (err error) {
		n, err = t.exec(ctx, deletePairings, before.UnixMicro())
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
		_, err := t.exec(ctx, insertToken, tok.ID, tok.Hash, tok.DeviceID, micros(tok.CreatedAt),
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
	return get(ctx, t, getTokenByHash, scanToken, "token", hash)
}

// RevokeDeviceTokens revokes every unrevoked token of a device.
func (t *txn) RevokeDeviceTokens(ctx context.Context, deviceID string, at time.Time) (int, error) {
	fillTime(&at)
	var n int
	err := t.atomic(ctx, func(t *txn) (err error) {
		n, err = t.exec(ctx, revokeDeviceTokens, micros(at), deviceID)
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
			_, err := t.exec(ctx, setGrants, g.DeviceID, origins, micros(g.UpdatedAt))
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
	g, err := get(ctx, t, getGrants, scanGrants, "grants", deviceID)
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
		_, err := t.exec(ctx, insertAudit, e.ID, e.OwnerID, e.Actor, e.Action, e.DeviceID, e.Detail,
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
		es, err = list(ctx, t, listAudit, scanAudit, limit)
	case f.OwnerID == "":
		es, err = list(ctx, t, listAuditBefore, scanAudit, f.Before, limit)
	case f.Before == "":
		es, err = list(ctx, t, listAuditByOwner, scanAudit, f.OwnerID, limit)
	default:
		es, err = list(ctx, t, listAuditByOwnerBefore, scanAudit, f.OwnerID, f.Before, limit)
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
		polled, created, expires, decided, redeemed sql.NullInt64
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
		created, expires, revoked sql.NullInt64
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
		updated sql.NullInt64
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
		created sql.NullInt64
	)
	if err := r.Scan(&e.ID, &e.OwnerID, &e.Actor, &e.Action, &e.DeviceID, &e.Detail, &created); err != nil {
		return nil, err
	}
	e.CreatedAt = timeOf(created)
	return &e, nil
}
