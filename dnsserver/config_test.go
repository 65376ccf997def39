package dnsserver

import (
	"net/netip"
	"testing"
)

func TestParseCAA(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want CAA
	}{
		{"letsencrypt.org", CAA{Tag: "issue", Value: "letsencrypt.org"}},
		{"letsencrypt.org; accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/1; validationmethods=dns-01",
			CAA{Tag: "issue", Value: "letsencrypt.org; accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/1; validationmethods=dns-01"}},
		{"issuewild ;", CAA{Tag: "issuewild", Value: ";"}},
		{`128 issue "ca.example"`, CAA{Flag: 128, Tag: "issue", Value: "ca.example"}},
		{"iodef mailto:security@example.net", CAA{Tag: "iodef", Value: "mailto:security@example.net"}},
		{";", CAA{Tag: "issue", Value: ";"}},
	}
	for _, tt := range tests {
		got, err := ParseCAA(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseCAA(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{
		"not a domain!",
		"ca.example; accounturi=http://insecure.example/acct",
		"ca.example; validationmethods=dns 01",
		"ca.example; validationmethods=",
		"ca.example; novalue",
		`issue "ca.example\"`,
	} {
		if got, err := ParseCAA(bad); err == nil {
			t.Errorf("ParseCAA(%q) = %+v, want an error", bad, got)
		}
	}
}

func TestParseNameServer(t *testing.T) {
	t.Parallel()
	ns, err := ParseNameServer("NS1.Lan.Example.Net.=192.0.2.53,2001:db8::53")
	want := NameServer{Name: "ns1.lan.example.net", Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.53"), netip.MustParseAddr("2001:db8::53")}}
	if err != nil || ns.String() != want.String() {
		t.Errorf("ParseNameServer = %v, %v; want %v", ns, err, want)
	}
	for _, bad := range []string{"", "ns1", "ns1.example.net=not-an-ip", "*.example.net"} {
		if _, err := ParseNameServer(bad); err == nil {
			t.Errorf("ParseNameServer(%q) succeeded, want an error", bad)
		}
	}
}

func TestParseRRL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]RRL{"off": {Off: true}, "50": {Rate: 50}, "200/s": {Rate: 200}} {
		if got, err := ParseRRL(in); err != nil || got != want {
			t.Errorf("ParseRRL(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "-5", "fast", "10/m"} {
		if _, err := ParseRRL(bad); err == nil {
			t.Errorf("ParseRRL(%q) succeeded, want an error", bad)
		}
	}
}

func TestGlueOutsideZone(t *testing.T) {
	t.Parallel()
	cfg := Config{Zone: testZone, Source: openStore(t), NS: []NameServer{{Name: "ns.other.example", Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}}}
	if err := cfg.check(); err == nil {
		t.Error("glue for a name server outside the zone was accepted")
	}
}
