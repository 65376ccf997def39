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
	"hash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
)

// nonceLifetime is how long a nonce of storeNonces may be redeemed.
const nonceLifetime = time.Hour

// A nonce of storeNonces is base64url(expiry (8 bytes, unix seconds) || 16
// random bytes || the first 16 bytes of HMAC-SHA256 over the former under
// the nonce key). Minting needs no state, so any instance can mint and any
// instance can check; only spent nonces are stored, until they expire.
// localNonces have a form of their own (see there).
const (
	nonceExpiryLen = 8
	nonceRandomLen = 16
	nonceMACLen    = 16
	nonceLen       = nonceExpiryLen + nonceRandomLen + nonceMACLen
)

// nonceSource mints nonces and redeems them in two steps: check before
// the JWS signature is verified (no state changes, so forged requests
// cannot burn nonces), spend after. storeNonces serve issuers that share a
// store; localNonces one that is alone on its store (Config.LocalNonces).
type nonceSource interface {
	mint(now time.Time) string
	check(nonce string, now time.Time) (nonceTicket, error)
	spend(ctx context.Context, nonce string, t nonceTicket) error
}

// nonceTicket is what check learned and spend needs.
type nonceTicket struct {
	expires time.Time // storeNonces
	counter uint64    // localNonces
}

// storeNonces are stateless to mint and spent in the store, so that every
// issuer instance sharing the store can redeem every nonce.
type storeNonces struct {
	macs  *nonceMACs
	store store.Store
}

func newStoreNonces(key []byte, st store.Store) *storeNonces {
	return &storeNonces{macs: newNonceMACs(key), store: st}
}

// mint returns a fresh nonce that expires nonceLifetime after now.
func (n *storeNonces) mint(now time.Time) string {
	var b [nonceLen]byte
	binary.BigEndian.PutUint64(b[:nonceExpiryLen], uint64(now.Add(nonceLifetime).Unix()))
	rand.Read(b[nonceExpiryLen : nonceExpiryLen+nonceRandomLen])
	n.macs.sum(b[:nonceExpiryLen+nonceRandomLen], b[:nonceExpiryLen+nonceRandomLen]) // appends into b
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// check verifies nonce's MAC and expiry without touching the store, and
// returns when it expires.
func (n *storeNonces) check(nonce string, now time.Time) (nonceTicket, error) {
	body, err := openNonce(n.macs, nonce, nonceExpiryLen+nonceRandomLen)
	if err != nil {
		return nonceTicket{}, err
	}
	expires := time.Unix(int64(binary.BigEndian.Uint64(body[:nonceExpiryLen])), 0).UTC()
	if !now.Before(expires) {
		return nonceTicket{}, problem.BadNonceErr("nonce has expired")
	}
	return nonceTicket{expires: expires}, nil
}

// spend records nonce as used; a nonce used before is badNonce.
func (n *storeNonces) spend(ctx context.Context, nonce string, t nonceTicket) error {
	err := n.store.ConsumeNonce(ctx, nonce, t.expires)
	switch {
	case errors.Is(err, store.ErrConflict):
		return problem.BadNonceErr("nonce has already been used")
	case err != nil:
		return fmt.Errorf("consume nonce: %w", err)
	}
	return nil
}

// openNonce decodes a nonce of bodyLen bytes plus MAC and checks the MAC.
func openNonce(macs *nonceMACs, nonce string, bodyLen int) ([]byte, error) {
	if nonce == "" {
		return nil, problem.BadNonceErr("JWS has no nonce")
	}
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != bodyLen+nonceMACLen {
		return nil, problem.BadNonceErr("nonce is not one of ours")
	}
	body, mac := b[:bodyLen], b[bodyLen:]
	var want [nonceMACLen]byte
	if !hmac.Equal(mac, macs.sum(want[:0], body)) {
		return nil, problem.BadNonceErr("nonce is not one of ours")
	}
	return body, nil
}

// nonceMACs computes the MACs of nonces under one key, with a pool of
// HMAC states: a new one for each of the two MACs per request (one minted,
// one checked) made a fifteenth of the issuer's garbage.
type nonceMACs struct{ pool sync.Pool }

func newNonceMACs(key []byte) *nonceMACs {
	m := &nonceMACs{}
	m.pool.New = func() any { return hmac.New(sha256.New, key) }
	return m
}

// sum appends the MAC of body to dst.
func (m *nonceMACs) sum(dst, body []byte) []byte {
	h := m.pool.Get().(hash.Hash)
	h.Reset()
	h.Write(body)
	var full [sha256.Size]byte
	dst = append(dst, h.Sum(full[:0])[:nonceMACLen]...)
	m.pool.Put(h)
	return dst
}

// localNonces track spent nonces in memory, for an issuer that is the only
// one serving its store: no store write per request. A nonce is
// base64url(epoch (8 random bytes drawn at start) || counter (8 bytes) ||
// MAC). Nonces of an earlier process (another epoch) are refused, so a
// restart cannot make a spent nonce good again; clients retry badNonce as
// RFC 8555 asks. One bit per counter in a ring of localNonceWindow bits
// records spending; a nonce that many mints old has expired.
type localNonces struct {
	macs   *nonceMACs
	epoch  [8]byte
	window uint64 // localNonceWindow; smaller in tests
	next   atomic.Uint64
	spent  []atomic.Uint64 // window bits
}

// localNonceWindow is how many of the latest nonces stay redeemable: at
// 10,000 requests a second, about seven minutes' worth, in 512 KiB.
const localNonceWindow = 1 << 22

func newLocalNonces(key []byte, window uint64) *localNonces {
	n := &localNonces{macs: newNonceMACs(key), window: window, spent: make([]atomic.Uint64, window/64)}
	rand.Read(n.epoch[:])
	return n
}

func (n *localNonces) mint(time.Time) string {
	c := n.next.Add(1) - 1
	// The slot last served the nonce one window older, now expired.
	n.spent[(c%n.window)/64].And(^(uint64(1) << (c % 64)))
	var b [16 + nonceMACLen]byte
	copy(b[:8], n.epoch[:])
	binary.BigEndian.PutUint64(b[8:16], c)
	n.macs.sum(b[:16], b[:16]) // appends into b
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (n *localNonces) check(nonce string, _ time.Time) (nonceTicket, error) {
	body, err := openNonce(n.macs, nonce, 16)
	if err != nil {
		return nonceTicket{}, err
	}
	if !hmac.Equal(body[:8], n.epoch[:]) {
		return nonceTicket{}, problem.BadNonceErr("nonce is from before the issuer restarted")
	}
	c := binary.BigEndian.Uint64(body[8:16])
	if next := n.next.Load(); c >= next || next-c > n.window {
		return nonceTicket{}, problem.BadNonceErr("nonce has expired")
	}
	return nonceTicket{counter: c}, nil
}

func (n *localNonces) spend(_ context.Context, _ string, t nonceTicket) error {
	bit := uint64(1) << (t.counter % 64)
	if n.spent[(t.counter%n.window)/64].Or(bit)&bit != 0 {
		return problem.BadNonceErr("nonce has already been used")
	}
	// Spent while a newer mint reused its slot: it has expired.
	if n.next.Load()-t.counter > n.window {
		return problem.BadNonceErr("nonce has expired")
	}
	return nil
}
