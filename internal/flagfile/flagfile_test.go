package flagfile

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// list is a repeatable flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

type flags struct {
	zone, listen, hmac, store string
	ns                        list
	hub                       bool
}

func newSet(f *flags) (*flag.FlagSet, *Loader) {
	fs := flag.NewFlagSet("issuer", flag.ContinueOnError)
	fs.StringVar(&f.zone, "zone", "lan.test", "")
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8443", "")
	fs.StringVar(&f.hmac, "upstream-eab-hmac", "", "")
	fs.StringVar(&f.store, "store", "", "")
	fs.Var(&f.ns, "dns-ns", "")
	fs.BoolVar(&f.hub, "hub", false, "")
	return fs, Add(fs, "LANTLS_")
}

func TestApply(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "hmac")
	if err := os.WriteFile(secret, []byte("c2VjcmV0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	creds := filepath.Join(dir, "creds")
	os.Mkdir(creds, 0o700)
	if err := os.WriteFile(filepath.Join(creds, "store"), []byte("postgres://u:p@h/db"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := `# the issuer of the hub
zone = hub.home.arpa
listen = ":443"
dns-ns = ns1.hub.home.arpa=192.168.1.1
dns-ns = ns2.hub.home.arpa=192.168.1.2
hub = true
upstream-eab-hmac-file = ` + secret + `
store-file = ${CREDENTIALS_DIRECTORY}/store
`
	for _, tt := range []struct {
		name string
		args []string
		env  map[string]string
		want flags
	}{
		{
			name: "file",
			env:  map[string]string{"CREDENTIALS_DIRECTORY": creds},
			want: flags{zone: "hub.home.arpa", listen: ":443", ns: list{"ns1.hub.home.arpa=192.168.1.1", "ns2.hub.home.arpa=192.168.1.2"}, hub: true, hmac: "c2VjcmV0", store: "postgres://u:p@h/db"},
		},
		{
			name: "command line and environment win",
			args: []string{"--dns-ns", "ns.x=10.0.0.1", "--hub=false"},
			env:  map[string]string{"CREDENTIALS_DIRECTORY": creds, "LANTLS_ZONE": "env.home.arpa", "LANTLS_UPSTREAM_EAB_HMAC": "ZW52"},
			want: flags{zone: "env.home.arpa", listen: ":443", ns: list{"ns.x=10.0.0.1"}, hub: false, hmac: "ZW52", store: "postgres://u:p@h/db"},
		},
		{
			name: "secret file from the environment",
			env:  map[string]string{"CREDENTIALS_DIRECTORY": creds, "LANTLS_STORE_FILE": filepath.Join(creds, "store"), "LANTLS_UPSTREAM_EAB_HMAC_FILE": secret},
			want: flags{zone: "hub.home.arpa", listen: ":443", ns: list{"ns1.hub.home.arpa=192.168.1.1", "ns2.hub.home.arpa=192.168.1.2"}, hub: true, hmac: "c2VjcmV0", store: "postgres://u:p@h/db"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "issuer.conf")
			if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
			var got flags
			fs, l := newSet(&got)
			if err := fs.Parse(append([]string{"--config", path}, tt.args...)); err != nil {
				t.Fatal(err)
			}
			if err := l.Apply(func(k string) string { return tt.env[k] }); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("flags\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestApplyErrors(t *testing.T) {
	for _, tt := range []struct {
		conf string
		env  map[string]string
		want string
	}{
		{conf: "zon = x\n", want: `issuer.conf:1: unknown setting "zon": it names no flag`},
		{conf: "# c\n\nhub = maybe\n", want: "issuer.conf:3: hub: parse error"},
		{conf: "zone\n", want: `issuer.conf:1: "zone" is not 'name = value'`},
		{conf: "store-file = ${CREDENTIALS_DIRECTORY}/store\n", want: "CREDENTIALS_DIRECTORY is not set"},
		{conf: "store-file = /nonexistent/store\n", want: "issuer.conf:1: store-file: open /nonexistent/store"},
		{conf: "config = /etc/other.conf\n", want: `unknown setting "config"`},
		{conf: `zone = "unterminated` + "\n", want: "bad quoted value"},
		{conf: "zone = x\n", env: map[string]string{"LANTLS_HUB": "maybe"}, want: "hub: parse error"},
	} {
		t.Run(tt.want, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "issuer.conf")
			if err := os.WriteFile(path, []byte(tt.conf), 0o644); err != nil {
				t.Fatal(err)
			}
			fs, l := newSet(&flags{})
			if err := fs.Parse([]string{"--config", path}); err != nil {
				t.Fatal(err)
			}
			err := l.Apply(func(k string) string { return tt.env[k] })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Apply = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestSkipUnknown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "issuer.conf")
	if err := os.WriteFile(path, []byte("listen = :443\ndata = /var/lib/lantls\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("admin", flag.ContinueOnError)
	data := fs.String("data", "lantls-data", "")
	l := Add(fs, "LANTLS_")
	l.SkipUnknown = true
	if err := fs.Parse([]string{"--config", path}); err != nil {
		t.Fatal(err)
	}
	if err := l.Apply(func(string) string { return "" }); err != nil || *data != "/var/lib/lantls" {
		t.Errorf("Apply: %v, data %q", err, *data)
	}
}

func TestConfigFromEnvironment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "issuer.conf")
	if err := os.WriteFile(path, []byte("zone = env-config.home.arpa\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var got flags
	fs, l := newSet(&got)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if err := l.Apply(func(k string) string { return map[string]string{"LANTLS_CONFIG": path}[k] }); err != nil {
		t.Fatal(err)
	}
	if got.zone != "env-config.home.arpa" {
		t.Errorf("zone = %q, want the file's", got.zone)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("zone = lan.test\n# c\nlisten = \":443\"\n")
	f.Add("\xef\xbb\xbfa=b\r\nc = \"x\\ty\"")
	f.Add("=\n= x\n--zone = y")
	f.Fuzz(func(t *testing.T, s string) {
		settings, err := Parse(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, st := range settings {
			if st.Name == "" || strings.ContainsAny(st.Name, " \t\"'") || st.Line < 1 {
				t.Fatalf("setting %+v", st)
			}
		}
	})
}
