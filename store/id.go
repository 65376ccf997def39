package store

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// NewID returns a new ID for a stored row (an owner, device, EAB key,
// account, order or authorization): 48 bits of milliseconds since 1970
// and 80 random bits, in hex. The random part makes IDs unguessable; the
// time part makes rows made together sort together, so that their inserts
// and updates touch the same few B-tree pages instead of one page each.
func NewID(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	rand.Read(b[6:])
	return hex.EncodeToString(b[:])
}
