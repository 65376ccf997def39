package bench

import (
	"slices"
	"strings"
	"testing"
)

func TestReadDevices(t *testing.T) {
	const jsonLine = `{"label":"l1","names":["l1.lan.test","*.l1.lan.test"],"eab_kid":"kid1","eab_hmac_key":"c2VjcmV0"}`
	tests := []struct {
		name     string
		file     string
		template string
		limit    int
		want     []Device
		err      string
	}{
		{name: "json", file: jsonLine + "\n", want: []Device{{KID: "kid1", HMACKey: []byte("secret"), Names: []string{"l1.lan.test", "*.l1.lan.test"}}}},
		{name: "plain with template", file: "# pebble keys\n\nkid1 c2VjcmV0\nkid2 c2VjcmV0\n", template: "d{i}.example.com,*.d{i}.example.com",
			want: []Device{
				{KID: "kid1", HMACKey: []byte("secret"), Names: []string{"d1.example.com", "*.d1.example.com"}},
				{KID: "kid2", HMACKey: []byte("secret"), Names: []string{"d2.example.com", "*.d2.example.com"}},
			}},
		{name: "template overrides json names", file: jsonLine, template: "127.0.0.1",
			want: []Device{{KID: "kid1", HMACKey: []byte("secret"), Names: []string{"127.0.0.1"}}}},
		{name: "limit", file: "a c2VjcmV0\nb c2VjcmV0\nc c2VjcmV0\n", template: "x{i}.example", limit: 2,
			want: []Device{{KID: "a", HMACKey: []byte("secret"), Names: []string{"x1.example"}}, {KID: "b", HMACKey: []byte("secret"), Names: []string{"x2.example"}}}},
		{name: "plain without template", file: "kid1 c2VjcmV0\n", err: "line 1: no names"},
		{name: "three fields", file: "a b c\n", err: "line 1: want a JSON object or KID HMACKEY"},
		{name: "bad key", file: "kid1 !!!\n", template: "a.example", err: "not base64url"},
		{name: "json without key", file: `{"eab_kid":"k","names":["a"]}`, err: "no EAB key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadDevices(strings.NewReader(tt.file), tt.template, tt.limit)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got, tt.want, func(a, b Device) bool {
				return a.KID == b.KID && string(a.HMACKey) == string(b.HMACKey) && slices.Equal(a.Names, b.Names)
			}) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestTemplateDevices(t *testing.T) {
	devs := TemplateDevices("127.0.0.1, d{i}.example.com,", 2)
	if len(devs) != 2 || devs[1].KID != "" || !slices.Equal(devs[1].Names, []string{"127.0.0.1", "d2.example.com"}) {
		t.Errorf("TemplateDevices = %+v", devs)
	}
}
