package store

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"time"
)

// NewID returns a new ID for a stored row (an owner, device, EAB key,
// account, order or authorization): 48 bits of milliseconds since 1970
// and 80 random bits, in 26 characters of base32 with the digits and
// lowercase letters in ASCII order. The random part makes IDs unguessable;
// the time part makes rows made together sort together, so that their
// inserts and updates touch the same few B-tree pages instead of one page
// each. (Hex would sort the same but takes 32 characters, and an ID is
// stored several times per row with its indexes.)
func NewID(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	rand.Read(b[6:])
	return idEncoding.EncodeToString(b[:])
}

// idEncoding is base32 whose alphabet sorts as the values it encodes, so
// IDs sort as their bytes do; never a leading '-', which command lines
// would read as a flag.
var idEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)
