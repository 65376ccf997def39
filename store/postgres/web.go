package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lantls/lantls/store"
)

// The owner UI's users, sessions and passkeys (migration 00010).
const (
	userColumns    = `id, name, owner_id, role, password_hash, created_at`
	sessionColumns = `id, user_id, created_at, expires`
	passkeyColumns = `id, user_id, name, data, created_at, last_used_at`

	qInsertUser     = `INSERT INTO users (` + userColumns + `) VALUES ($1, $2, $3, $4, $5, $6)`
	qGetUser        = `SELECT ` + userColumns + ` FROM users WHERE id = $1`
	qGetUserByName  = `SELECT ` + userColumns + ` FROM users WHERE name = $1`
	qListUsers      = `SELECT ` + userColumns + ` FROM users ORDER BY created_at, id`
	qUpdateUser     = `UPDATE users SET role = $1, password_hash = $2 WHERE id = $3`
	qInsertSession  = `INSERT INTO sessions (` + sessionColumns + `) VALUES ($1, $2, $3, $4)`
	qGetSession     = `SELECT ` + sessionColumns + ` FROM sessions WHERE id = $1`
	qDeleteSession  = `DELETE FROM sessions WHERE id = $1`
	qDeleteSessions = `DELETE FROM sessions WHERE user_id = $1 OR expires < $2`
	qInsertPasskey  = `INSERT INTO passkeys (` + passkeyColumns + `) VALUES ($1, $2, $3, $4, $5, $6)`
	qListPasskeys   = `SELECT ` + passkeyColumns + ` FROM passkeys WHERE user_id = $1 ORDER BY created_at, id`
	qUpdatePasskey  = `UPDATE passkeys SET data = $1, last_used_at = $2 WHERE id = $3`
	qDeletePasskey  = `DELETE FROM passkeys WHERE id = $1 AND user_id = $2`
	qDeleteUser     = `WITH p AS (DELETE FROM passkeys WHERE user_id = $1), s AS (DELETE FROM sessions WHERE user_id = $1)
		DELETE FROM users WHERE id = $1`
)

// CreateUser stores u, filling an empty ID and a zero CreatedAt.
func (t *txn) CreateUser(ctx context.Context, u *store.User) error {
	fillID(&u.ID)
	fillTime(&u.CreatedAt)
	if _, err := t.exec(ctx, qInsertUser, u.ID, u.Name, u.OwnerID, string(u.Role), u.PasswordHash, micros(u.CreatedAt)); err != nil {
		return fmt.Errorf("create user %q: %w", u.Name, err)
	}
	return nil
}

// GetUser returns the user with ID id.
func (t *txn) GetUser(ctx context.Context, id string) (*store.User, error) {
	return get(ctx, t, qGetUser, scanUser, "user", id)
}

// GetUserByName returns the user named name.
func (t *txn) GetUserByName(ctx context.Context, name string) (*store.User, error) {
	return get(ctx, t, qGetUserByName, scanUser, "user", name)
}

// ListUsers returns every user, oldest first.
func (t *txn) ListUsers(ctx context.Context) ([]*store.User, error) {
	us, err := list(ctx, t, qListUsers, scanUser)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return us, nil
}

// UpdateUser writes Role and PasswordHash.
func (t *txn) UpdateUser(ctx context.Context, u *store.User) error {
	if err := t.changeOne(ctx, qUpdateUser, "", u.ID, string(u.Role), u.PasswordHash, u.ID); err != nil {
		return fmt.Errorf("update user %q: %w", u.ID, err)
	}
	return nil
}

// DeleteUser removes the user id with its sessions and passkeys, in one
// statement.
func (t *txn) DeleteUser(ctx context.Context, id string) error {
	n, err := t.exec(ctx, qDeleteUser, id)
	if err == nil && n == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("delete user %q: %w", id, err)
	}
	return nil
}

// CreateSession stores s, filling a zero CreatedAt.
func (t *txn) CreateSession(ctx context.Context, s *store.Session) error {
	fillTime(&s.CreatedAt)
	if _, err := t.exec(ctx, qInsertSession, s.ID, s.UserID, micros(s.CreatedAt), micros(s.Expires)); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// GetSession returns the session with ID id.
func (t *txn) GetSession(ctx context.Context, id string) (*store.Session, error) {
	s, err := get(ctx, t, qGetSession, scanSession, "session", id)
	if err != nil {
		// The ID is a secret's hash: keep it out of error messages.
		return nil, fmt.Errorf("get session: %w", errors.Unwrap(err))
	}
	return s, nil
}

// DeleteSession removes a session, if it exists.
func (t *txn) DeleteSession(ctx context.Context, id string) error {
	if _, err := t.exec(ctx, qDeleteSession, id); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteSessions removes every session of userID and every expired one.
func (t *txn) DeleteSessions(ctx context.Context, userID string, now time.Time) (int, error) {
	n, err := t.exec(ctx, qDeleteSessions, userID, now.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("delete sessions of user %q: %w", userID, err)
	}
	return n, nil
}

// CreatePasskey stores p, filling a zero CreatedAt.
func (t *txn) CreatePasskey(ctx context.Context, p *store.Passkey) error {
	fillTime(&p.CreatedAt)
	if _, err := t.exec(ctx, qInsertPasskey, p.ID, p.UserID, p.Name, p.Data, micros(p.CreatedAt), micros(p.LastUsedAt)); err != nil {
		return fmt.Errorf("create passkey of user %q: %w", p.UserID, err)
	}
	return nil
}

// ListPasskeys returns a user's passkeys, oldest first.
func (t *txn) ListPasskeys(ctx context.Context, userID string) ([]*store.Passkey, error) {
	ps, err := list(ctx, t, qListPasskeys, scanPasskey, userID)
	if err != nil {
		return nil, fmt.Errorf("list passkeys of user %q: %w", userID, err)
	}
	return ps, nil
}

// UpdatePasskey writes Data and LastUsedAt.
func (t *txn) UpdatePasskey(ctx context.Context, p *store.Passkey) error {
	n, err := t.exec(ctx, qUpdatePasskey, p.Data, micros(p.LastUsedAt), p.ID)
	if err == nil && n == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("update passkey of user %q: %w", p.UserID, err)
	}
	return nil
}

// DeletePasskey removes the passkey id of userID.
func (t *txn) DeletePasskey(ctx context.Context, userID string, id []byte) error {
	n, err := t.exec(ctx, qDeletePasskey, id, userID)
	if err == nil && n == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("delete passkey of user %q: %w", userID, err)
	}
	return nil
}

func scanUser(r scanner) (*store.User, error) {
	var (
		u       store.User
		role    string
		created *int64
	)
	if err := r.Scan(&u.ID, &u.Name, &u.OwnerID, &role, &u.PasswordHash, &created); err != nil {
		return nil, err
	}
	u.Role, u.CreatedAt = store.Role(role), timeOf(created)
	return &u, nil
}

func scanSession(r scanner) (*store.Session, error) {
	var (
		s                store.Session
		created, expires *int64
	)
	if err := r.Scan(&s.ID, &s.UserID, &created, &expires); err != nil {
		return nil, err
	}
	s.CreatedAt, s.Expires = timeOf(created), timeOf(expires)
	return &s, nil
}

func scanPasskey(r scanner) (*store.Passkey, error) {
	var (
		p             store.Passkey
		created, used *int64
	)
	if err := r.Scan(&p.ID, &p.UserID, &p.Name, &p.Data, &created, &used); err != nil {
		return nil, err
	}
	p.CreatedAt, p.LastUsedAt = timeOf(created), timeOf(used)
	return &p, nil
}
