package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/lantls/lantls/store"
)

// The owner UI's users, sessions and passkeys. These are read and written
// at the rate people click, so their statements are not among the prepared
// ones of queries.go: they run as plain text (execText, queryText).

const (
	userColumns    = `id, name, owner_id, role, password_hash, created_at`
	sessionColumns = `id, user_id, created_at, expires`
	passkeyColumns = `id, user_id, name, data, created_at, last_used_at`
)

// CreateUser stores u, filling an empty ID and a zero CreatedAt.
func (t *txn) CreateUser(ctx context.Context, u *store.User) error {
	fillID(&u.ID)
	fillTime(&u.CreatedAt)
	err := t.atomic(ctx, func(t *txn) error {
		_, err := t.execText(ctx, `INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
			u.ID, u.Name, u.OwnerID, string(u.Role), u.PasswordHash, micros(u.CreatedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("create user %q: %w", u.Name, err)
	}
	return nil
}

// GetUser returns the user with ID id.
func (t *txn) GetUser(ctx context.Context, id string) (*store.User, error) {
	return getText(ctx, t, `SELECT `+userColumns+` FROM users WHERE id = ?`, scanUser, "user", id)
}

// GetUserByName returns the user named name.
func (t *txn) GetUserByName(ctx context.Context, name string) (*store.User, error) {
	return getText(ctx, t, `SELECT `+userColumns+` FROM users WHERE name = ?`, scanUser, "user", name)
}

// ListUsers returns every user, oldest first.
func (t *txn) ListUsers(ctx context.Context) ([]*store.User, error) {
	us, err := listText(ctx, t, `SELECT `+userColumns+` FROM users ORDER BY created_at, id`, scanUser)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return us, nil
}

// UpdateUser writes Role and PasswordHash.
func (t *txn) UpdateUser(ctx context.Context, u *store.User) error {
	err := t.atomic(ctx, func(t *txn) error {
		return t.changeOneText(ctx, `UPDATE users SET role = ?, password_hash = ? WHERE id = ?`,
			string(u.Role), u.PasswordHash, u.ID)
	})
	if err != nil {
		return fmt.Errorf("update user %q: %w", u.ID, err)
	}
	return nil
}

// DeleteUser removes the user id with its sessions and passkeys.
func (t *txn) DeleteUser(ctx context.Context, id string) error {
	err := t.atomic(ctx, func(t *txn) error {
		for _, q := range []string{`DELETE FROM passkeys WHERE user_id = ?`, `DELETE FROM sessions WHERE user_id = ?`} {
			if _, err := t.execText(ctx, q, id); err != nil {
				return err
			}
		}
		return t.changeOneText(ctx, `DELETE FROM users WHERE id = ?`, id)
	})
	if err != nil {
		return fmt.Errorf("delete user %q: %w", id, err)
	}
	return nil
}

// CreateSession stores s, filling a zero CreatedAt.
func (t *txn) CreateSession(ctx context.Context, s *store.Session) error {
	fillTime(&s.CreatedAt)
	err := t.atomic(ctx, func(t *txn) error {
		_, err := t.execText(ctx, `INSERT INTO sessions (`+sessionColumns+`) VALUES (?, ?, ?, ?)`,
			s.ID, s.UserID, micros(s.CreatedAt), micros(s.Expires))
		return err
	})
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// GetSession returns the session with ID id.
func (t *txn) GetSession(ctx context.Context, id string) (*store.Session, error) {
	s, err := getText(ctx, t, `SELECT `+sessionColumns+` FROM sessions WHERE id = ?`, scanSession, "session", id)
	if err != nil {
		// The ID is a secret's hash: keep it out of error messages.
		return nil, fmt.Errorf("get session: %w", errors.Unwrap(err))
	}
	return s, nil
}

// DeleteSession removes a session, if it exists.
func (t *txn) DeleteSession(ctx context.Context, id string) error {
	err := t.atomic(ctx, func(t *txn) error {
		_, err := t.execText(ctx, `DELETE FROM sessions WHERE id = ?`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteSessions removes every session of userID and every expired one.
func (t *txn) DeleteSessions(ctx context.Context, userID string, now time.Time) (int, error) {
	var n int
	err := t.atomic(ctx, func(t *txn) (err error) {
		n, err = t.execText(ctx, `DELETE FROM sessions WHERE user_id = ? OR expires < ?`, userID, now.UnixMicro())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete sessions of user %q: %w", userID, err)
	}
	return n, nil
}

// CreatePasskey stores p, filling a zero CreatedAt.
func (t *txn) CreatePasskey(ctx context.Context, p *store.Passkey) error {
	fillTime(&p.CreatedAt)
	err := t.atomic(ctx, func(t *txn) error {
		_, err := t.execText(ctx, `INSERT INTO passkeys (`+passkeyColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
			p.ID, p.UserID, p.Name, p.Data, micros(p.CreatedAt), micros(p.LastUsedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("create passkey of user %q: %w", p.UserID, err)
	}
	return nil
}

// ListPasskeys returns a user's passkeys, oldest first.
func (t *txn) ListPasskeys(ctx context.Context, userID string) ([]*store.Passkey, error) {
	ps, err := listText(ctx, t, `SELECT `+passkeyColumns+` FROM passkeys WHERE user_id = ? ORDER BY created_at, id`,
		scanPasskey, userID)
	if err != nil {
		return nil, fmt.Errorf("list passkeys of user %q: %w", userID, err)
	}
	return ps, nil
}

// UpdatePasskey writes Data and LastUsedAt.
func (t *txn) UpdatePasskey(ctx context.Context, p *store.Passkey) error {
	err := t.atomic(ctx, func(t *txn) error {
		return t.changeOneText(ctx, `UPDATE passkeys SET data = ?, last_used_at = ? WHERE id = ?`,
			p.Data, micros(p.LastUsedAt), p.ID)
	})
	if err != nil {
		return fmt.Errorf("update passkey of user %q: %w", p.UserID, err)
	}
	return nil
}

// DeletePasskey removes the passkey id of userID.
func (t *txn) DeletePasskey(ctx context.Context, userID string, id []byte) error {
	err := t.atomic(ctx, func(t *txn) error {
		return t.changeOneText(ctx, `DELETE FROM passkeys WHERE id = ? AND user_id = ?`, id, userID)
	})
	if err != nil {
		return fmt.Errorf("delete passkey of user %q: %w", userID, err)
	}
	return nil
}

func scanUser(r scanner) (*store.User, error) {
	var (
		u       store.User
		created sql.NullInt64
	)
	if err := r.Scan(&u.ID, &u.Name, &u.OwnerID, &u.Role, &u.PasswordHash, &created); err != nil {
		return nil, err
	}
	u.CreatedAt = timeOf(created)
	return &u, nil
}

func scanSession(r scanner) (*store.Session, error) {
	var (
		s                store.Session
		created, expires sql.NullInt64
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
		created, used sql.NullInt64
	)
	if err := r.Scan(&p.ID, &p.UserID, &p.Name, &p.Data, &created, &used); err != nil {
		return nil, err
	}
	p.CreatedAt, p.LastUsedAt = timeOf(created), timeOf(used)
	return &p, nil
}

// changeOneText runs the write text, which must change one row; if it
// changes none, the row is missing.
func (t *txn) changeOneText(ctx context.Context, text string, args ...any) error {
	n, err := t.execText(ctx, text, args...)
	if err == nil && n == 0 {
		err = store.ErrNotFound
	}
	return err
}

// getText runs the single-row query text with key and scans its row.
func getText[T any](ctx context.Context, t *txn, text string, scan func(scanner) (T, error), what, key string) (T, error) {
	var v T
	rows, err := t.queryText(ctx, text, key)
	if err == nil {
		var all []T
		all, err = scanAll(rows, scan)
		switch {
		case err != nil:
		case len(all) == 0:
			err = store.ErrNotFound
		default:
			v = all[0]
		}
	}
	if err != nil {
		return v, fmt.Errorf("get %s %q: %w", what, key, err)
	}
	return v, nil
}

// listText runs the query text and scans every row into a non-nil slice.
func listText[T any](ctx context.Context, t *txn, text string, scan func(scanner) (T, error), args ...any) ([]T, error) {
	rows, err := t.queryText(ctx, text, args...)
	if err != nil {
		return nil, err
	}
	return scanAll(rows, scan)
}
