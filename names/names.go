// Package names holds the naming rules of lantls as pure functions: device
// labels, certificate names, address-names and zone checks.
//
// A device label L is 26 lowercase base32 characters of the first 16 bytes
// of SHA-256 over a public key's SubjectPublicKeyInfo. A device owns L.Z and
// every name below it; its certificate carries L.Z and *.L.Z, so one
// certificate serves every address-name <addr>.L.Z.
package names

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// LabelLen is the length of a device label in characters.
const LabelLen = 26

var labelEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// Label derives the device label from a DER-encoded SubjectPublicKeyInfo.
func Label(spki []byte) string {
	sum := sha256.Sum256(spki)
	return strings.ToLower(labelEncoding.EncodeToString(sum[:16]))
}

// Grouped is label in groups of four characters joined by spaces, the
// form the owner's approval page and the device both show, so that a
// person can compare them aloud: "abcd efgh ijkl mnop qrst uvwx yz".
func Grouped(label string) string {
	var b strings.Builder
	for i := 0; i < len(label); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(label[i:min(i+4, len(label))])
	}
	return b.String()
}

// RandomLabel returns a label drawn from 16 random bytes, for devices that
// are created before their account key is known (stock ACME clients).
func RandomLabel() string {
	var b [16]byte
	rand.Read(b[:])
	return strings.ToLower(labelEncoding.EncodeToString(b[:]))
}

// ValidLabel reports whether s has the form of a device label: the exact
// encoding of 16 bytes, so each label stands for one byte string.
func ValidLabel(s string) bool {
	if len(s) != LabelLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	// 26 characters carry 130 bits; the last character's two low bits are
	// padding and must be zero, or two labels would decode to one value.
	last := s[LabelLen-1]
	v := last - 'a'
	if last <= '7' {
		v = last - '2' + 26
	}
	return v&3 == 0
}

// DeviceName returns L.Z.
func DeviceName(label, zone string) string { return label + "." + zone }

// CertNames returns the names a device certificate carries: L.Z and *.L.Z.
func CertNames(label, zone string) []string {
	base := DeviceName(label, zone)
	return []string{base, "*." + base}
}

// ErrInvalidName reports a name that is not a valid DNS name for a certificate.
var ErrInvalidName = errors.New("invalid DNS name")

// Normalize lowercases name, strips one trailing dot and checks that it is a
// valid DNS name for a certificate: LDH labels of 1 to 63 characters, at most
// 253 characters in all, at least two labels, a last label that is not all
// digits (so an IPv4 literal is never taken for a name), and a wildcard only
// as the whole leftmost label.
func Normalize(name string) (string, error) {
	// Lowercase ASCII only: strings.ToLower would turn some non-ASCII
	// characters into ASCII letters (U+212A KELVIN SIGN becomes "k") and so
	// accept a name that is not LDH.
	n := asciiLower(strings.TrimSuffix(name, "."))
	if n == "" || len(n) > 253 {
		return "", fmt.Errorf("%w: %q has length %d", ErrInvalidName, name, len(n))
	}
	labels := strings.Split(n, ".")
	if len(labels) < 2 {
		return "", fmt.Errorf("%w: %q has a single label", ErrInvalidName, name)
	}
	for i, l := range labels {
		if l == "*" && i == 0 {
			continue
		}
		if err := checkLabel(l); err != nil {
			return "", fmt.Errorf("%w: %q: %v", ErrInvalidName, name, err)
		}
	}
	if allDigits(labels[len(labels)-1]) {
		return "", fmt.Errorf("%w: %q has an all-numeric last label", ErrInvalidName, name)
	}
	return n, nil
}

func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func checkLabel(l string) error {
	if l == "" || len(l) > 63 {
		return fmt.Errorf("label %q must have 1 to 63 characters", l)
	}
	if l[0] == '-' || l[len(l)-1] == '-' {
		return fmt.Errorf("label %q starts or ends with a hyphen", l)
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("label %q has character %q", l, c)
		}
	}
	return nil
}

// InZone reports whether name (normalized) is zone itself or below it.
func InZone(name, zone string) bool {
	return name == zone || strings.HasSuffix(name, "."+zone)
}

// OwnedBy reports whether a device with label owns name (normalized, maybe a
// wildcard) in zone: name is L.Z or any name below L.Z.
func OwnedBy(name, label, zone string) bool {
	return InZone(strings.TrimPrefix(name, "*."), DeviceName(label, zone))
}

// SplitDevice splits a name in zone into its device label and the part
// before it: "192-168-1-20.L.Z" gives ("192-168-1-20", L, true).
func SplitDevice(name, zone string) (prefix, label string, ok bool) {
	if !strings.HasSuffix(name, "."+zone) {
		return "", "", false
	}
	rest := strings.TrimSuffix(name, "."+zone)
	i := strings.LastIndexByte(rest, '.')
	prefix, label = "", rest
	if i >= 0 {
		prefix, label = rest[:i], rest[i+1:]
	}
	// ".L.Z" has an empty label; it must not pass for L.Z itself.
	if i == 0 || !ValidLabel(label) {
		return "", "", false
	}
	return prefix, label, true
}

// specialUse are the special-use suffixes (RFC 6761, RFC 8375 home.arpa,
// the ICANN-reserved internal) whose names never reach the public DNS.
var specialUse = []string{"home.arpa", "internal", "test"}

// PublishByDefault reports whether devices in zone publish their
// addresses at L.Z unless their owner says otherwise: yes under
// special-use names, which never reach public DNS, and no elsewhere,
// where the label in CT logs would let anyone look the addresses up.
func PublishByDefault(zone string) bool {
	zone = strings.TrimSuffix(strings.ToLower(zone), ".")
	for _, s := range specialUse {
		if zone == s || strings.HasSuffix(zone, "."+s) {
			return true
		}
	}
	return false
}

// LocalRanges returns the address ranges that address-names may point
// into by default: RFC 1918, RFC 6598 (CGNAT), loopback, link-local and
// ULA. The issuer answers address-names only inside them, so the zone
// cannot point a name that carries a trusted certificate at someone
// else's public host, and the agent reports only addresses inside them.
// Each call returns a new slice.
func LocalRanges() []netip.Prefix {
	return []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("192.168.0.0/16"),
		netip.MustParsePrefix("100.64.0.0/10"),
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("169.254.0.0/16"),
		netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("fe80::/10"),
		netip.MustParsePrefix("fc00::/7"),
	}
}

// AddressLabel encodes addr as a single DNS label: IPv4 dots become hyphens
// (192-168-1-20); IPv6 is written as all eight groups, lowercase, without
// zero padding, joined by hyphens (fd00-0-0-0-0-0-0-1).
// The zero Addr has no label and gives "".
func AddressLabel(addr netip.Addr) string {
	if !addr.IsValid() {
		return ""
	}
	addr = addr.Unmap()
	if addr.Is4() {
		return strings.ReplaceAll(addr.String(), ".", "-")
	}
	b := addr.As16()
	groups := make([]string, 8)
	for i := range groups {
		groups[i] = strconv.FormatUint(uint64(b[2*i])<<8|uint64(b[2*i+1]), 16)
	}
	return strings.Join(groups, "-")
}

// ParseAddressLabel decodes a label made by AddressLabel. It accepts only the
// canonical form, so every address has exactly one name: IPv4 as four
// decimal numbers up to 255 without leading zeros; IPv6 as eight groups of
// one to four lowercase hex digits without leading zeros, and never an
// IPv4-mapped address (that one's name is its IPv4 form). The DNS server
// calls it for every address-name query, so a valid label costs no
// allocation.
func ParseAddressLabel(label string) (netip.Addr, error) {
	var (
		groups [8]uint16
		n      int
		hexa   bool // a group had a hex letter: only IPv6 allows it
	)
	for start := 0; ; {
		end := strings.IndexByte(label[start:], '-')
		if end < 0 {
			end = len(label)
		} else {
			end += start
		}
		if n == len(groups) {
			return netip.Addr{}, badAddressLabel(label, "want 4 or 8 groups")
		}
		g := label[start:end]
		if g == "" || len(g) > 4 || len(g) > 1 && g[0] == '0' {
			return netip.Addr{}, badAddressLabel(label, "bad group "+strconv.Quote(g))
		}
		var v uint16
		for i := 0; i < len(g); i++ {
			c := g[i]
			switch {
			case c >= '0' && c <= '9':
				v = v<<4 | uint16(c-'0')
			case c >= 'a' && c <= 'f':
				v = v<<4 | uint16(c-'a'+10)
				hexa = true
			default:
				return netip.Addr{}, badAddressLabel(label, "bad group "+strconv.Quote(g))
			}
		}
		groups[n] = v
		n++
		if end == len(label) {
			break
		}
		start = end + 1
	}
	switch {
	case n == 4 && !hexa:
		var b [4]byte
		for i, v := range groups[:4] {
			// v holds the decimal digits as hex nibbles: 0x255 is 255.
			d := int(v>>8)*100 + int(v>>4&0xf)*10 + int(v&0xf)
			if d > 255 {
				return netip.Addr{}, badAddressLabel(label, "group above 255")
			}
			b[i] = byte(d)
		}
		return netip.AddrFrom4(b), nil
	case n == 8:
		var b [16]byte
		for i, v := range groups {
			b[2*i], b[2*i+1] = byte(v>>8), byte(v)
		}
		addr := netip.AddrFrom16(b)
		if addr.Is4In6() {
			return netip.Addr{}, badAddressLabel(label, "not canonical (want "+strconv.Quote(AddressLabel(addr))+")")
		}
		return addr, nil
	}
	return netip.Addr{}, badAddressLabel(label, "want 4 or 8 groups")
}

func badAddressLabel(label, why string) error {
	return fmt.Errorf("parse address label %q: %s", label, why)
}

// AddressName returns <addr>.L.Z.
func AddressName(addr netip.Addr, label, zone string) string {
	return AddressLabel(addr) + "." + DeviceName(label, zone)
}

// ReservedShortNames are the names below the zone that no device may take
// as its short name: the hub's own and the name servers' usual names.
var ReservedShortNames = []string{"hub", "ns", "ns1", "ns2", "www", "localhost"}

// ParseShortName lowercases s and checks that it can be a device's short
// name in a zone: one LDH label of 1 to 63 characters, not all digits,
// not of the form of a device label (which it would shadow), and not
// reserved.
func ParseShortName(s string) (string, error) {
	n := asciiLower(strings.TrimSpace(s))
	if err := checkLabel(n); err != nil {
		return "", fmt.Errorf("short name %q: %v", s, err)
	}
	switch {
	case allDigits(n):
		return "", fmt.Errorf("short name %q is all digits", s)
	case ValidLabel(n):
		return "", fmt.Errorf("short name %q has the form of a device label", s)
	case strings.Contains(n, "--"):
		// Address-names never have "--"; nor do short names, so that
		// neither reads as the other and IDNA never sees an "xn--".
		return "", fmt.Errorf("short name %q has two hyphens in a row", s)
	}
	for _, r := range ReservedShortNames {
		if n == r {
			return "", fmt.Errorf("short name %q is reserved for the hub", s)
		}
	}
	return n, nil
}

// ShortNames returns the names a device's short name gives it in a
// certificate: short.Z, and short.local where mdns is set.
func ShortNames(short, zone string, mdns bool) []string {
	if short == "" {
		return nil
	}
	out := []string{short + "." + zone}
	if mdns {
		out = append(out, short+".local")
	}
	return out
}
