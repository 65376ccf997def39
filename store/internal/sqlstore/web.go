package sqlstore

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
)

var (
	insertUser     = stmt(`INSERT INTO users (` + userColumns + `) VALUES (?, ?, ?, ?, ?, ?)`)
	getUser        = stmt(`SELECT ` + userColumns + ` FROM users WHERE id = ?`)
	getUserByName  = stmt(`SELECT ` + userColumns + ` FROM users WHERE name = ?`)
	listUsers      = stmt(`SELECT ` + userColumns + ` FROM users ORDER BY created_at, id`)
	updateUser     = stmt(`UPDATE users SET role = ?, password_hash = ? WHERE id = ?`)
	insertSession  = stmt(`INSERT INTO sessions (` + sessionColumns + `) VALUES (?, ?, ?, ?)`)
	getSession     = stmt(`SELECT ` + sessionColumns + ` FROM sessions WHERE id = ?`)
	deleteSession  = stmt(`DELETE FROM sessions WHERE id = ?`)
	deleteSessions = stmt(`DELETE FROM sessions WHERE user_id = ? OR expires < ?`)
	insertPasskey  = stmt(`INSERT INTO passkeys (` + passkeyColumns + `) VALUES (?, ?, ?, ?, ?, ?)`)
	listPasskeys   = stmt(`SELECT ` + passkeyColumns + ` FROM passkeys WHERE user_id = ? ORDER BY created_at, id`)
	updatePasskey  = stmt(`UPDATE passkeys SET data = ?, last_used_at = ? WHERE id = ?`)
	deletePasskey  = stmt(`DELETE FROM passkeys WHERE id = ? AND user_id = ?`)
	// The user's passkeys and sessions go with it.
	deleteUserPasskeys = stmt(`DELETE FROM passkeys WHERE user_id = ?`)
	deleteUserSessions = stmt(`DELETE FROM sessions WHERE user_id = ?`)
	deleteUser         = stmt(`DELETE FROM users WHERE id = ?`)
)

// CreateUser stores u, filling an empty ID and a zero CreatedAt.
func (t Tx) CreateUser(ctx context.Context, u *store.User) error {
	fillID(&u.ID)
	fillTime(&u.CreatedAt)
	_, err := exec(ctx, t.DB, insertUser, u.ID, u.Name, u.OwnerID, string(u.Role), u.PasswordHash, micros(u.CreatedAt))
	if err != nil {
		return fmt.Errorf("create user %q: %w", u.Name, err)
	}
	return nil
}

// GetUser returns the user with ID id.
func (t Tx) GetUser(ctx context.Context, id string) (*store.User, error) {
	return get(ctx, t.DB, getUser, scanUser, "user", id)
}

// GetUserByName returns the user named name.
func (t Tx) GetUserByName(ctx context.Context, name string) (*store.User, error) {
	return get(ctx, t.DB, getUserByName, scanUser, "user", name)
}

// ListUsers returns every user, oldest first.
func (t Tx) ListUsers(ctx context.Context) ([]*store.User, error) {
	us, err := list(ctx, t.DB, listUsers, scanUser)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return us, nil
}

// UpdateUser writes Role and PasswordHash.
func (t Tx) UpdateUser(ctx context.Context, u *store.User) error {
	if err := changeOne(ctx, t.DB, None, updateUser, nil, u.ID, string(u.Role), u.PasswordHash, u.ID); err != nil {
		return fmt.Errorf("update user %q: %w", u.ID, err)
	}
	return nil
}

// DeleteUser removes the user id with its sessions and passkeys.
func (t Tx) DeleteUser(ctx context.Context, id string) error {
	err := t.DB.Atomic(ctx, func(db DB) error {
		for _, q := range []*Stmt{deleteUserPasskeys, deleteUserSessions} {
			if _, err := exec(ctx, db, q, id); err != nil {
				return err
			}
		}
		return changeOne(ctx, db, None, deleteUser, nil, id, id)
	})
	if err != nil {
		return fmt.Errorf("delete user %q: %w", id, err)
	}
	return nil
}

// CreateSession stores s, filling a zero CreatedAt.
func (t Tx) CreateSession(ctx context.Context, s *store.Session) error {
	fillTime(&s.CreatedAt)
	if _, err := exec(ctx, t.DB, insertSession, s.ID, s.UserID, micros(s.CreatedAt), micros(s.Expires)); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// GetSession returns the session with ID id.
func (t Tx) GetSession(ctx context.Context, id string) (*store.Session, error) {
	s, err := get(ctx, t.DB, getSession, scanSession, "session", id)
	if err != nil {
		// The ID is a secret's hash: keep it out of error messages.
		return nil, fmt.Errorf("get session: %w", errors.Unwrap(err))
	}
	return s, nil
}

// DeleteSession removes a session, if it exists.
func (t Tx) DeleteSession(ctx context.Context, id string) error {
	if _, err := exec(ctx, t.DB, deleteSession, id); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteSessions removes every session of userID and every expired one.
func (t Tx) DeleteSessions(ctx context.Context, userID string, now time.Time) (int, error) {
	n, err := exec(ctx, t.DB, deleteSessions, userID, now.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("delete sessions of user %q: %w", userID, err)
	}
	return n, nil
}

// CreatePasskey stores p, filling a zero CreatedAt.
func (t Tx) CreatePasskey(ctx context.Context, p *store.Passkey) error {
	fillTime(&p.CreatedAt)
	_, err := exec(ctx, t.DB, insertPasskey, p.ID, p.UserID, p.Name, p.Data, micros(p.CreatedAt), micros(p.LastUsedAt))
	if err != nil {
		return fmt.Errorf("create passkey of user %q: %w", p.UserID, err)
	}
	return nil
}

// ListPasskeys returns a user's passkeys, oldest first.
func (t Tx) ListPasskeys(ctx context.Context, userID string) ([]*store.Passkey, error) {
	ps, err := list(ctx, t.DB, listPasskeys, scanPasskey, userID)
	if err != nil {
		return nil, fmt.Errorf("list passkeys of user %q: %w", userID, err)
	}
	return ps, nil
}

// UpdatePasskey writes Data and LastUsedAt.
func (t Tx) UpdatePasskey(ctx context.Context, p *store.Passkey) error {
	if err := changeOne(ctx, t.DB, None, updatePasskey, nil, "", p.Data, micros(p.LastUsedAt), p.ID); err != nil {
		return fmt.Errorf("update passkey of user %q: %w", p.UserID, err)
	}
	return nil
}

// DeletePasskey removes the passkey id of userID.
func (t Tx) DeletePasskey(ctx context.Context, userID string, id []byte) error {
	if err := changeOne(ctx, t.DB, None, deletePasskey, nil, "", id, userID); err != nil {
		return fmt.Errorf("delete passkey of user %q: %w", userID, err)
	}
	return nil
}

func scanUser(r Scanner) (*store.User, error) {
	var u store.User
	if err := r.Scan(&u.ID, &u.Name, &u.OwnerID, (*string)(&u.Role), &u.PasswordHash, asTime(&u.CreatedAt)); err != nil {
		return nil, err
	}
	return &u, nil
}

func scanSession(r Scanner) (*store.Session, error) {
	var s store.Session
	if err := r.Scan(&s.ID, &s.UserID, asTime(&s.CreatedAt), asTime(&s.Expires)); err != nil {
		return nil, err
	}
	return &s, nil
}

func scanPasskey(r Scanner) (*store.Passkey, error) {
	var p store.Passkey
	if err := r.Scan(&p.ID, &p.UserID, &p.Name, &p.Data, asTime(&p.CreatedAt), asTime(&p.LastUsedAt)); err != nil {
		return nil, err
	}
	return &p, nil
}
