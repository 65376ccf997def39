package pairing

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// UserCodeAlphabet is the alphabet of user codes: 20 consonants that read
// alike in upper and lower case and spell no words (RFC 8628 section
// 6.1). Codes have UserCodeLen of them, 20^8 = 2.56e10 codes in all.
const UserCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

// UserCodeLen is the number of characters in a user code.
const UserCodeLen = 8

// newUserCode returns a random user code, normalized (no dash). Each
// character is drawn uniformly: bytes at or above 240, the largest
// multiple of 20 under 256, are thrown away rather than folded in.
func newUserCode() string {
	var out [UserCodeLen]byte
	var buf [2 * UserCodeLen]byte
	for n := 0; n < UserCodeLen; {
		rand.Read(buf[:])
		for _, b := range buf {
			if b >= 240 || n == UserCodeLen {
				continue
			}
			out[n] = UserCodeAlphabet[b%20]
			n++
		}
	}
	return string(out[:])
}

// NormalizeUserCode returns code as stored: upper case, without the dash,
// spaces or other separators a person may type, and reports whether the
// result is a well-formed code. "wdjb-mjht", "WDJBMJHT" and " wdjb mjht "
// are all "WDJBMJHT".
func NormalizeUserCode(code string) (string, bool) {
	if len(code) > 64 {
		return "", false
	}
	var b strings.Builder
	b.Grow(UserCodeLen)
	for i := 0; i < len(code); i++ {
		c := code[i]
		switch {
		case c == '-' || c == ' ' || c == '\t':
			continue
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		}
		if strings.IndexByte(UserCodeAlphabet, c) < 0 || b.Len() == UserCodeLen {
			return "", false
		}
		b.WriteByte(c)
	}
	if b.Len() != UserCodeLen {
		return "", false
	}
	return b.String(), true
}

// FormatUserCode returns a normalized code as a person reads it: two
// groups of four joined by a dash, "WDJB-MJHT".
func FormatUserCode(code string) string {
	if len(code) != UserCodeLen {
		return code
	}
	return code[:4] + "-" + code[4:]
}

// sameCode compares two normalized codes in constant time.
func sameCode(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// newSecret returns a random bearer secret of 32 bytes, base64url, with a
// prefix that names what it is (so a leaked one is recognizable, e.g. by
// secret scanners).
func newSecret(prefix string) string {
	var b [32]byte
	rand.Read(b[:])
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// hash is how codes and tokens are stored and looked up: hex SHA-256. The
// secrets are random and long (or, for user codes, short-lived and rate
// limited), so a slow password hash would add nothing.
func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
