package acme

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/lantls/lantls/acme/problem"
	"github.com/lantls/lantls/store"
)

// nonceLifetime is how long a minted nonce may be redeemed.
const nonceLifetime = time.Hour

// A nonce is base64url(expiry (8 bytes, unix seconds) || 16 random bytes ||
// the first 16 bytes of HMAC-SHA256 over the former under the nonce key).
// Minting needs no state, so any instance can mint and any instance can
// check; only spent nonces are stored, until they expire.
const (
	nonceExpiryLen = 8
	nonceRandomLen = 16
	nonceMACLen    = 16
	nonceLen       = nonceExpiryLen + nonceRandomLen + nonceMACLen
)

// nonces mints and redeems nonces.
type nonces struct {
	key   []byte
	store store.Store
}

func newNonces(key []byte, st store.Store) *nonces {
	return &nonces{key: key, store: st}
}

// mint returns a fresh nonce that expires nonceLifetime after now.
func (n *nonces) mint(now time.Time) string {
	var b [nonceLen]byte
	binary.BigEndian.PutUint64(b[:nonceExpiryLen], uint64(now.Add(nonceLifetime).Unix()))
	rand.Read(b[nonceExpiryLen : nonceExpiryLen+nonceRandomLen])
	copy(b[nonceExpiryLen+nonceRandomLen:], n.mac(b[:nonceExpiryLen+nonceRandomLen]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// check verifies nonce's MAC and expiry without touching the store, and
// returns when it expires.
func (n *nonces) check(nonce string, now time.Time) (time.Time, error) {
	if nonce == "" {
		return time.Time{}, problem.BadNonceErr("JWS has no nonce")
	}
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != nonceLen {
		return time.Time{}, problem.BadNonceErr("nonce is not one of ours")
	}
	body, mac := b[:nonceExpiryLen+nonceRandomLen], b[nonceExpiryLen+nonceRandomLen:]
	if !hmac.Equal(mac, n.mac(body)) {
		return time.Time{}, problem.BadNonceErr("nonce is not one of ours")
	}
	expires := time.Unix(int64(binary.BigEndian.Uint64(body[:nonceExpiryLen])), 0).UTC()
	if !now.Before(expires) {
		return time.Time{}, problem.BadNonceErr("nonce has expired")
	}
	return expires, nil
}

// spend records nonce as used; a nonce used before is badNonce.
func (n *nonces) spend(ctx context.Context, nonce string, expires time.Time) error {
	err := n.store.ConsumeNonce(ctx, nonce, expires)
	switch {
	case errors.Is(err, store.ErrConflict):
		return problem.BadNonceErr("nonce has already been used")
	case err != nil:
		return fmt.Errorf("consume nonce: %w", err)
	}
	return nil
}

func (n *nonces) mac(body []byte) []byte {
	m := hmac.New(sha256.New, n.key)
	m.Write(body)
	return m.Sum(nil)[:nonceMACLen]
}
