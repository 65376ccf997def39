package acme

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// newID returns an ID for an account, order or authorization: 48 bits of
// milliseconds since 1970 and 80 random bits, in hex, so IDs sort by
// creation and cannot be guessed.
func newID(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	rand.Read(b[6:])
	return hex.EncodeToString(b[:])
}
