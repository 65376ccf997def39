package names

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

// p256G is the SubjectPublicKeyInfo of the P-256 key whose private scalar
// is 1: its public point is the curve's base point, so anyone can rebuild it.
const p256G = "3059301306072a8648ce3d020106082a8648ce3d030107034200" +
	"04" + "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296" +
	"4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"

func TestLabel(t *testing.T) {
	spki, err := hex.DecodeString(p256G)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.ParsePKIXPublicKey(spki)
	if err != nil {
		t.Fatalf("test vector is not an SPKI: %v", err)
	}
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok || k.Curve != elliptic.P256() {
		t.Fatalf("test vector is not a P-256 key: %v", pub)
	}
	point, err := k.Bytes()
	params := elliptic.P256().Params()
	base := append([]byte{4}, append(params.Gx.FillBytes(make([]byte, 32)), params.Gy.FillBytes(make([]byte, 32))...)...)
	if err != nil || !bytes.Equal(point, base) {
		t.Fatalf("test vector is not the P-256 base point: %x", point)
	}
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		// base32(SHA-256(x)[:16]), lowercase, no padding; computed outside Go.
		{"P-256 base point", spki, "ltjff6ym5cjsinx27dgncbajqe"},
		{"empty input", nil, "4oymiquy7qobjgx36tejs35zeq"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Label(tt.in)
			if got != tt.want {
				t.Errorf("Label = %q, want %q", got, tt.want)
			}
			if again := Label(tt.in); again != got {
				t.Errorf("Label is not deterministic: %q then %q", got, again)
			}
			if len(got) != LabelLen || strings.Trim(got, "abcdefghijklmnopqrstuvwxyz234567") != "" {
				t.Errorf("Label = %q, want %d lowercase base32 characters", got, LabelLen)
			}
			if !ValidLabel(got) {
				t.Errorf("ValidLabel(%q) = false", got)
			}
		})
	}
}

func TestLabelOfGeneratedKeys(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		spki, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		l := Label(spki)
		if !ValidLabel(l) {
			t.Fatalf("ValidLabel(Label(...)) = false for %q", l)
		}
		if seen[l] {
			t.Fatalf("two keys gave label %q", l)
		}
		seen[l] = true
	}
}

func TestRandomLabel(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		l := RandomLabel()
		if !ValidLabel(l) {
			t.Fatalf("ValidLabel(%q) = false", l)
		}
		if seen[l] {
			t.Fatalf("RandomLabel repeated %q", l)
		}
		seen[l] = true
	}
}

func TestValidLabel(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"ltjff6ym5cjsinx27dgncbajqe", true},
		{"aaaaaaaaaaaaaaaaaaaaaaaaaa", true},
		{"77777777777777777777777774", true}, // all bits set
		{"", false},
		{"ltjff6ym5cjsinx27dgncbajq", false},   // 25 characters
		{"ltjff6ym5cjsinx27dgncbajqea", false}, // 27 characters
		{"LTJFF6YM5CJSINX27DGNCBAJQE", false},  // uppercase
		{"ltjff6ym5cjsinx27dgncbajq1", false},  // 1 is not base32
		{"ltjff6ym5cjsinx27dgncbajq8", false},  // 8 is not base32
		{"ltjff6ym5cjsinx27dgncbajq=", false},
		{"ltjff6ym5cjsinx27dgncbaj.e", false},
		// The last character holds 3 bits and 2 zero padding bits; these
		// decode to the same 16 bytes as "...qe" and are not canonical.
		{"ltjff6ym5cjsinx27dgncbajqf", false},
		{"ltjff6ym5cjsinx27dgncbajqh", false},
		{"ltjff6ym5cjsinx27dgncbajq7", false},
	}
	for _, tt := range tests {
		if got := ValidLabel(tt.in); got != tt.want {
			t.Errorf("ValidLabel(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestCertNames(t *testing.T) {
	const l = "ltjff6ym5cjsinx27dgncbajqe"
	got := CertNames(l, "lan.test")
	want := []string{l + ".lan.test", "*." + l + ".lan.test"}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("CertNames = %q, want %q", got, want)
	}
	if DeviceName(l, "lan.test") != want[0] {
		t.Errorf("DeviceName = %q, want %q", DeviceName(l, "lan.test"), want[0])
	}
}

func TestNormalize(t *testing.T) {
	long63 := strings.Repeat("a", 63)
	// 4 labels of 63 plus 3 dots = 255; trim to exactly 253.
	name253 := long63 + "." + long63 + "." + long63 + "." + strings.Repeat("b", 61)
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{in: "lan.test", want: "lan.test"},
		{in: "LAN.Test", want: "lan.test"},
		{in: "lan.test.", want: "lan.test"},
		{in: "Device-1.LAN.test.", want: "device-1.lan.test"},
		{in: "*.L.lan.test", want: "*.l.lan.test"},
		{in: "192-168-1-20.l.lan.test", want: "192-168-1-20.l.lan.test"},
		{in: "xn--bcher-kva.example", want: "xn--bcher-kva.example"},
		{in: "0.example", want: "0.example"},
		{in: "a.b2", want: "a.b2"},
		{in: long63 + ".test", want: long63 + ".test"},
		{in: name253, want: name253},
		{in: name253 + ".", want: name253},

		{in: "", wantErr: true},
		{in: ".", wantErr: true},
		{in: "test", wantErr: true},        // one label
		{in: "test.", wantErr: true},       // one label
		{in: "lan.test..", wantErr: true},  // only one trailing dot is stripped
		{in: ".lan.test", wantErr: true},   // empty label
		{in: "lan..test", wantErr: true},   // empty label
		{in: "-a.lan.test", wantErr: true}, // leading hyphen
		{in: "a-.lan.test", wantErr: true}, // trailing hyphen
		{in: "a_b.lan.test", wantErr: true},
		{in: "a b.lan.test", wantErr: true},
		{in: "a/b.lan.test", wantErr: true},
		{in: "é.lan.test", wantErr: true},
		{in: "\u212a.lan.test", wantErr: true}, // KELVIN SIGN lowercases to "k"
		{in: "\u0130.lan.test", wantErr: true}, // LATIN CAPITAL I WITH DOT
		{in: long63 + "a.test", wantErr: true}, // 64-character label
		{in: name253 + "b", wantErr: true},     // 254 characters
		{in: "*", wantErr: true},
		{in: "*.", wantErr: true},
		{in: "*.*.lan.test", wantErr: true},
		{in: "a.*.lan.test", wantErr: true},
		{in: "*a.lan.test", wantErr: true},
		{in: "a*.lan.test", wantErr: true},
		{in: "lan.*", wantErr: true},
		{in: "**.lan.test", wantErr: true},
		{in: "192.168.1.20", wantErr: true}, // an IPv4 literal is not a name
		{in: "a.123", wantErr: true},        // all-numeric TLD
		{in: "fd00::1", wantErr: true},
		{in: "[::1].test", wantErr: true},
	}
	for _, tt := range tests {
		got, err := Normalize(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("Normalize(%q) = %q, want error", tt.in, got)
			} else if !errors.Is(err, ErrInvalidName) {
				t.Errorf("Normalize(%q) error %v does not wrap ErrInvalidName", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
		if again, err := Normalize(got); err != nil || again != got {
			t.Errorf("Normalize is not idempotent on %q: %q, %v", got, again, err)
		}
	}
}

func TestInZone(t *testing.T) {
	tests := []struct {
		name, zone string
		want       bool
	}{
		{"lan.test", "lan.test", true},
		{"a.lan.test", "lan.test", true},
		{"*.a.lan.test", "lan.test", true},
		{"a.b.lan.test", "lan.test", true},
		{"evillan.test", "lan.test", false},
		{"lan.test.evil", "lan.test", false},
		{"test", "lan.test", false},
		{"example.com", "lan.test", false},
	}
	for _, tt := range tests {
		if got := InZone(tt.name, tt.zone); got != tt.want {
			t.Errorf("InZone(%q, %q) = %v, want %v", tt.name, tt.zone, got, tt.want)
		}
	}
}

func TestOwnedBy(t *testing.T) {
	const (
		l    = "ltjff6ym5cjsinx27dgncbajqe"
		o    = "4oymiquy7qobjgx36tejs35zeq"
		zone = "lan.test"
	)
	tests := []struct {
		name string
		want bool
	}{
		{l + ".lan.test", true},
		{"*." + l + ".lan.test", true},
		{"192-168-1-20." + l + ".lan.test", true},
		{"a.b." + l + ".lan.test", true},
		{"*.a." + l + ".lan.test", true},
		{"lan.test", false},
		{"*.lan.test", false},
		{o + ".lan.test", false},
		{"*." + o + ".lan.test", false},
		{"x" + l + ".lan.test", false},
		{l + ".lan.test.evil", false},
		{l + ".other.test", false},
		{l, false},
		{"example.com", false},
	}
	for _, tt := range tests {
		if got := OwnedBy(tt.name, l, zone); got != tt.want {
			t.Errorf("OwnedBy(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestSplitDevice(t *testing.T) {
	const (
		l    = "ltjff6ym5cjsinx27dgncbajqe"
		zone = "lan.test"
	)
	tests := []struct {
		name       string
		wantPrefix string
		wantLabel  string
		wantOK     bool
	}{
		{l + ".lan.test", "", l, true},
		{"192-168-1-20." + l + ".lan.test", "192-168-1-20", l, true},
		{"a.b." + l + ".lan.test", "a.b", l, true},
		{"*." + l + ".lan.test", "*", l, true},
		{"lan.test", "", "", false},
		{"www.lan.test", "", "", false}, // not a device label
		{l + ".lan.test.other", "", "", false},
		{l + ".other.test", "", "", false},
		{l + "lan.test", "", "", false},
		{"." + l + ".lan.test", "", "", false}, // empty leftmost label
		{l + "x.lan.test", "", "", false},
		{strings.ToUpper(l) + ".lan.test", "", "", false}, // callers normalize first
	}
	for _, tt := range tests {
		prefix, label, ok := SplitDevice(tt.name, zone)
		if prefix != tt.wantPrefix || label != tt.wantLabel || ok != tt.wantOK {
			t.Errorf("SplitDevice(%q) = %q, %q, %v; want %q, %q, %v",
				tt.name, prefix, label, ok, tt.wantPrefix, tt.wantLabel, tt.wantOK)
		}
	}
}

func TestAddressLabelRoundTrip(t *testing.T) {
	tests := []struct {
		addr  string
		label string
		back  string // the address ParseAddressLabel returns; "" means addr
	}{
		{addr: "192.168.1.20", label: "192-168-1-20"},
		{addr: "10.0.0.1", label: "10-0-0-1"},
		{addr: "0.0.0.0", label: "0-0-0-0"},
		{addr: "255.255.255.255", label: "255-255-255-255"},
		{addr: "100.64.0.1", label: "100-64-0-1"},
		{addr: "fd00::1", label: "fd00-0-0-0-0-0-0-1"},
		{addr: "::1", label: "0-0-0-0-0-0-0-1"},
		{addr: "::", label: "0-0-0-0-0-0-0-0"},
		{addr: "fe80::1:abcd", label: "fe80-0-0-0-0-0-1-abcd"},
		{addr: "FD12:3456:789A:1::BEEF", label: "fd12-3456-789a-1-0-0-0-beef"},
		{addr: "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", label: "2001-db8-ffff-ffff-ffff-ffff-ffff-ffff"},
		// An IPv4-mapped address is named as the IPv4 address it maps.
		{addr: "::ffff:10.0.0.1", label: "10-0-0-1", back: "10.0.0.1"},
		{addr: "::ffff:192.168.1.20", label: "192-168-1-20", back: "192.168.1.20"},
		// A zone is not part of the name.
		{addr: "fe80::1%eth0", label: "fe80-0-0-0-0-0-0-1", back: "fe80::1"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			addr := netip.MustParseAddr(tt.addr)
			got := AddressLabel(addr)
			if got != tt.label {
				t.Fatalf("AddressLabel = %q, want %q", got, tt.label)
			}
			if strings.Contains(got, "--") {
				t.Errorf("label %q contains --", got)
			}
			if _, err := Normalize(got + ".l.lan.test"); err != nil {
				t.Errorf("address-name is not a valid DNS name: %v", err)
			}
			back, err := ParseAddressLabel(got)
			if err != nil {
				t.Fatalf("ParseAddressLabel(%q): %v", got, err)
			}
			want := addr
			if tt.back != "" {
				want = netip.MustParseAddr(tt.back)
			}
			if back != want {
				t.Errorf("ParseAddressLabel(%q) = %v, want %v", got, back, want)
			}
		})
	}
	if got := AddressLabel(netip.Addr{}); got != "" {
		t.Errorf("AddressLabel(zero Addr) = %q, want empty", got)
	}
}

func TestAddressName(t *testing.T) {
	const l = "ltjff6ym5cjsinx27dgncbajqe"
	got := AddressName(netip.MustParseAddr("192.168.1.20"), l, "lan.test")
	if want := "192-168-1-20." + l + ".lan.test"; got != want {
		t.Errorf("AddressName = %q, want %q", got, want)
	}
	prefix, label, ok := SplitDevice(got, "lan.test")
	if !ok || label != l {
		t.Fatalf("SplitDevice(%q) = %q, %q, %v", got, prefix, label, ok)
	}
	if a, err := ParseAddressLabel(prefix); err != nil || a != netip.MustParseAddr("192.168.1.20") {
		t.Errorf("ParseAddressLabel(%q) = %v, %v", prefix, a, err)
	}
}

func TestParseAddressLabelRejects(t *testing.T) {
	tests := []struct {
		label, why string
	}{
		{"", "empty"},
		{"192-168-1", "3 groups"},
		{"192-168-1-20-1", "5 groups"},
		{"0-0-0-0-0-0-1", "7 groups"},
		{"0-0-0-0-0-0-0-0-1", "9 groups"},
		{"192-168-001-20", "IPv4 leading zeros"},
		{"192-168-01-20", "IPv4 leading zero"},
		{"192-168-1-256", "IPv4 octet out of range"},
		{"192-168--20", "IPv4 empty group"},
		{"-192-168-1", "IPv4 leading hyphen"},
		{"192.168.1.20", "dots"},
		{"192-168-1-2a", "IPv4 hex"},
		{"+1-2-3-4", "IPv4 sign"},
		{"fd00-0000-0-0-0-0-0-1", "IPv6 zero padding"},
		{"fd00-0-0-0-0-0-0-01", "IPv6 leading zero"},
		{"fd00--0-0-0-0-0-1", "IPv6 --"},
		{"fd00-0-0-0-0-0-0-", "IPv6 trailing hyphen"},
		{"fd00-0-0-0-0-0-0-1-", "IPv6 9th empty group"},
		{"FD00-0-0-0-0-0-0-1", "IPv6 uppercase"},
		{"fd00-0-0-0-0-0-0-Ab", "IPv6 mixed case"},
		{"fd00-0-0-0-0-0-0-10000", "IPv6 group too big"},
		{"fd00-0-0-0-0-0-0-+1", "IPv6 sign"},
		{"fd00-0-0-0-0-0-0-0x1", "IPv6 0x prefix"},
		{"fd00-0-0-0-0-0-0-1_0", "IPv6 underscore"},
		{"fd00-0-0-0-0-0-0-g", "IPv6 non-hex"},
		{"0-0-0-0-0-ffff-a00-1", "IPv4-mapped written as IPv6"},
		{"fd00::1", "IPv6 literal"},
		{"1-2-3-4%eth0", "IPv4 with zone"},
		{"fe80-0-0-0-0-0-0-1%eth0", "IPv6 with zone"},
	}
	for _, tt := range tests {
		if a, err := ParseAddressLabel(tt.label); err == nil {
			t.Errorf("ParseAddressLabel(%q) = %v, want error (%s)", tt.label, a, tt.why)
		}
	}
}

// parseAddressLabelReference is the plain form of ParseAddressLabel:
// decode with the standard library, then insist on the canonical form.
func parseAddressLabelReference(label string) (netip.Addr, bool) {
	parts := strings.Split(label, "-")
	var addr netip.Addr
	switch len(parts) {
	case 4:
		a, err := netip.ParseAddr(strings.Join(parts, "."))
		if err != nil {
			return netip.Addr{}, false
		}
		addr = a
	case 8:
		var b [16]byte
		for i, p := range parts {
			v, err := strconv.ParseUint(p, 16, 16)
			if err != nil || p == "" || len(p) > 4 {
				return netip.Addr{}, false
			}
			b[2*i], b[2*i+1] = byte(v>>8), byte(v)
		}
		addr = netip.AddrFrom16(b)
	default:
		return netip.Addr{}, false
	}
	return addr, AddressLabel(addr) == label
}

func FuzzParseAddressLabel(f *testing.F) {
	for _, s := range []string{"192-168-1-20", "0-0-0-0", "255-255-255-255", "256-1-1-1", "01-1-1-1",
		"fd00-0-0-0-0-0-0-1", "FD00-0-0-0-0-0-0-1", "0-0-0-0-0-ffff-c0a8-114", "fd00--0-0-0-0-0-1",
		"1-2-3", "a-b-c-d", "0000-0-0-0-0-0-0-0", "1-2-3-4-5-6-7-8-9", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, label string) {
		got, err := ParseAddressLabel(label)
		want, ok := parseAddressLabelReference(label)
		if (err == nil) != ok || ok && got != want {
			t.Fatalf("ParseAddressLabel(%q) = %v, %v; reference says %v, %v", label, got, err, want, ok)
		}
	})
}

func TestParseAddressLabelAllocs(t *testing.T) {
	for _, label := range []string{"192-168-1-20", "fd00-0-0-0-0-0-0-20"} {
		if n := testing.AllocsPerRun(100, func() { ParseAddressLabel(label) }); n != 0 {
			t.Errorf("ParseAddressLabel(%q) allocates %v times, want 0", label, n)
		}
	}
}

func TestLocalRanges(t *testing.T) {
	in := func(s string) bool {
		a := netip.MustParseAddr(s)
		for _, p := range LocalRanges() {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	for _, a := range []string{"10.1.2.3", "172.31.0.1", "192.168.1.20", "100.64.0.1", "127.0.0.1", "169.254.1.1", "::1", "fe80::1", "fd00::20"} {
		if !in(a) {
			t.Errorf("%s is not in LocalRanges", a)
		}
	}
	for _, a := range []string{"8.8.8.8", "172.32.0.1", "100.128.0.1", "2001:db8::1", "::ffff:8.8.8.8"} {
		if in(a) {
			t.Errorf("%s is in LocalRanges", a)
		}
	}
	r := LocalRanges()
	r[0] = netip.Prefix{}
	if !LocalRanges()[0].IsValid() {
		t.Error("LocalRanges returned a slice shared between calls")
	}
}

func TestGrouped(t *testing.T) {
	for in, want := range map[string]string{"": "", "abc": "abc", "abcdefgh": "abcd efgh", "abcdefghijklmnopqrstuvwxyz": "abcd efgh ijkl mnop qrst uvwx yz"} {
		if got := Grouped(in); got != want {
			t.Errorf("Grouped(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseShortName(t *testing.T) {
	for in, want := range map[string]string{"tv": "tv", " Printer ": "printer", "living-room": "living-room", "tv2": "tv2"} {
		if got, err := ParseShortName(in); err != nil || got != want {
			t.Errorf("ParseShortName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "tv.lan", "-tv", "tv-", "hub", "ns1", "42", "a--b", "tv_1", "ü", RandomLabel(), strings.Repeat("a", 64)} {
		if got, err := ParseShortName(in); err == nil {
			t.Errorf("ParseShortName(%q) = %q, want an error", in, got)
		}
	}
	if got := ShortNames("tv", "lan.test", true); len(got) != 2 || got[0] != "tv.lan.test" || got[1] != "tv.local" {
		t.Errorf("ShortNames = %q", got)
	}
}

func FuzzParseShortName(f *testing.F) {
	f.Add("tv")
	f.Add("Living-Room")
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseShortName(s)
		if err != nil {
			return
		}
		// A short name makes a certificate name in any zone.
		if full, err := Normalize(n + ".lan.test"); err != nil || full != n+".lan.test" {
			t.Fatalf("short name %q gives %q, %v", n, full, err)
		}
		if _, _, ok := SplitDevice(n+".lan.test", "lan.test"); ok {
			t.Fatalf("short name %q reads as a device name", n)
		}
	})
}

func TestPublishByDefault(t *testing.T) {
	for zone, want := range map[string]bool{
		"lan.home.arpa": true, "home.arpa": true, "box.internal": true, "lan.test": true, "LAN.Test.": true,
		"lan.example.net": false, "internal.example.com": false, "testing.example": false, "arpa.example": false,
	} {
		if got := PublishByDefault(zone); got != want {
			t.Errorf("PublishByDefault(%q) = %v, want %v", zone, got, want)
		}
	}
}
