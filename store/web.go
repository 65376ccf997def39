package store

import "time"

// Role is what a user may do in the owner UI.
type Role string

// Roles of users.
const (
	// RoleOwner sees and changes only the devices of its own owner.
	RoleOwner Role = "owner"
	// RoleAdmin sees and changes every owner's devices.
	RoleAdmin Role = "admin"
)

// User is a person who logs in to the owner UI. Each user acts for one
// owner; an admin also sees every other owner's devices.
type User struct {
	ID      string
	Name    string // unique, used to log in
	OwnerID string
	Role    Role
	// PasswordHash is an argon2id hash in PHC string form (package users);
	// empty means the user cannot log in with a password, and a leading
	// '!' that the user is disabled (users.Disabled).
	PasswordHash string
	CreatedAt    time.Time
}

// Session is a logged-in browser. ID is the SHA-256 of the cookie's
// secret, in hex, so a copy of the database logs nobody in.
type Session struct {
	ID        string
	UserID    string
	CreatedAt time.Time
	Expires   time.Time
}

// Passkey is a user's WebAuthn credential. Data is the credential as the
// web package encodes it (public key, sign count, flags); the store keeps
// it opaque.
type Passkey struct {
	ID         []byte // the credential ID the authenticator chose
	UserID     string
	Name       string
	Data       []byte
	CreatedAt  time.Time
	LastUsedAt time.Time // zero until first used to log in
}
