// Package users holds the people who log in to the owner UI: each user acts
// for one store owner, as an owner (sees only that owner's devices) or an
// admin (sees all). Passwords are kept as argon2id hashes in PHC string
// form. The admin CLI and the web UI both go through this package.
package users

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/lantls/lantls/store"
)

// MinPasswordLength is the shortest password Add and SetPassword accept,
// in characters.
const MinPasswordLength = 10

// maxPasswordLength bounds what is hashed, so a login form cannot make the
// issuer hash megabytes.
const maxPasswordLength = 1024

// ErrBadLogin is returned by Authenticate for an unknown user or a wrong
// password alike, so the answer does not tell which names exist.
var ErrBadLogin = errors.New("wrong user name or password")

// CheckName reports whether name is a usable user name: 1 to 64
// characters, no spaces or control characters.
func CheckName(name string) error {
	if name == "" || utf8.RuneCountInString(name) > 64 {
		return errors.New("a user name has 1 to 64 characters")
	}
	for _, r := range name {
		if r <= ' ' || r == 0x7f {
			return fmt.Errorf("user name %q has a space or control character", name)
		}
	}
	return nil
}

// CheckPasswordStrength reports whether password is long enough to set.
func CheckPasswordStrength(password string) error {
	n := utf8.RuneCountInString(password)
	if n < MinPasswordLength {
		return fmt.Errorf("the password is too short: use at least %d characters", MinPasswordLength)
	}
	if len(password) > maxPasswordLength {
		return fmt.Errorf("the password is too long: use at most %d bytes", maxPasswordLength)
	}
	return nil
}

// Add creates the user name with role, acting for the owner of the same
// name (created if missing), with password hashed under DefaultParams.
func Add(ctx context.Context, st store.Store, name string, role store.Role, password string) (*store.User, error) {
	name = strings.TrimSpace(name)
	if err := CheckName(name); err != nil {
		return nil, fmt.Errorf("add user: %w", err)
	}
	if role != store.RoleOwner && role != store.RoleAdmin {
		return nil, fmt.Errorf("add user: role %q is neither owner nor admin", role)
	}
	if err := CheckPasswordStrength(password); err != nil {
		return nil, fmt.Errorf("add user: %w", err)
	}
	u := &store.User{Name: name, Role: role, PasswordHash: HashPassword(password, DefaultParams)}
	err := st.Update(ctx, func(tx store.Tx) error {
		o, err := tx.EnsureOwner(ctx, name)
		if err != nil {
			return err
		}
		u.OwnerID = o.ID
		return tx.CreateUser(ctx, u)
	})
	if errors.Is(err, store.ErrConflict) {
		return nil, fmt.Errorf("add user: a user named %q exists already", name)
	}
	if err != nil {
		return nil, fmt.Errorf("add user: %w", err)
	}
	return u, nil
}

// SetPassword replaces the password of the user name and ends every
// session and every passkey the user has, so a changed password locks out
// whoever knew the old one, and whatever passkey they added with it. A
// disabled user stays disabled.
func SetPassword(ctx context.Context, st store.Store, name, password string) error {
	if err := CheckPasswordStrength(password); err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	hash := HashPassword(password, DefaultParams)
	err := st.Update(ctx, func(tx store.Tx) error {
		u, err := tx.GetUserByName(ctx, name)
		if err != nil {
			return err
		}
		if Disabled(u) {
			hash = disabledMark + hash
		}
		u.PasswordHash = hash
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		return endAccess(ctx, tx, u)
	})
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("set password: no user named %q", name)
	}
	if err != nil {
		return fmt.Errorf("set password of %q: %w", name, err)
	}
	return nil
}

// endAccess removes every session and passkey of u.
func endAccess(ctx context.Context, tx store.Tx, u *store.User) error {
	if _, err := tx.DeleteSessions(ctx, u.ID, time.Now()); err != nil {
		return err
	}
	keys, err := tx.ListPasskeys(ctx, u.ID)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := tx.DeletePasskey(ctx, u.ID, k.ID); err != nil {
			return err
		}
	}
	return nil
}

// disabledMark starts the password hash of a disabled user, as '!' does
// in /etc/shadow: the hash is kept, so enabling needs no new password.
const disabledMark = "!"

// Disabled reports whether u may not log in, by password or passkey.
func Disabled(u *store.User) bool { return strings.HasPrefix(u.PasswordHash, disabledMark) }

// SetDisabled disables or enables the user name. Disabling ends the
// user's sessions; passkeys are kept for when the user is enabled again,
// and refused until then. It reports whether anything changed.
func SetDisabled(ctx context.Context, st store.Store, name string, disabled bool) (bool, error) {
	changed := false
	err := st.Update(ctx, func(tx store.Tx) error {
		u, err := tx.GetUserByName(ctx, name)
		if err != nil {
			return err
		}
		if Disabled(u) == disabled {
			return nil
		}
		changed = true
		if disabled {
			u.PasswordHash = disabledMark + u.PasswordHash
		} else {
			u.PasswordHash = strings.TrimPrefix(u.PasswordHash, disabledMark)
		}
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		_, err = tx.DeleteSessions(ctx, u.ID, time.Now())
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return false, fmt.Errorf("no user named %q", name)
	}
	if err != nil {
		return false, fmt.Errorf("disable user %q: %w", name, err)
	}
	return changed, nil
}

// Delete removes the user name with its sessions and passkeys. The owner
// it acted for keeps its devices; another user may act for it later.
func Delete(ctx context.Context, st store.Store, name string) error {
	err := st.Update(ctx, func(tx store.Tx) error {
		u, err := tx.GetUserByName(ctx, name)
		if err != nil {
			return err
		}
		return tx.DeleteUser(ctx, u.ID)
	})
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no user named %q", name)
	}
	if err != nil {
		return fmt.Errorf("delete user %q: %w", name, err)
	}
	return nil
}

// dummyHash is checked against when the user does not exist, so that a
// login for an unknown name takes as long as one for a known name.
var dummyHash = sync.OnceValue(func() string { return HashPassword("not a password anyone has", DefaultParams) })

// Authenticate returns the user name if password is theirs, and
// ErrBadLogin otherwise.
func Authenticate(ctx context.Context, st store.Tx, name, password string) (*store.User, error) {
	if len(password) > maxPasswordLength {
		return nil, ErrBadLogin
	}
	u, err := st.GetUserByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		CheckPassword(dummyHash(), password)
		return nil, ErrBadLogin
	}
	if err != nil {
		return nil, fmt.Errorf("log in: %w", err)
	}
	if u.PasswordHash == "" || Disabled(u) {
		CheckPassword(dummyHash(), password)
		return nil, ErrBadLogin
	}
	ok, err := CheckPassword(u.PasswordHash, password)
	if err != nil {
		return nil, fmt.Errorf("log in %q: %w", name, err)
	}
	if !ok {
		return nil, ErrBadLogin
	}
	return u, nil
}
