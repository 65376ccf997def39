package web

import (
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/lantls/lantls/devices"
)

func TestParseOrigins(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // joined by spaces; "" with bad set means an error
		bad  bool
	}{
		{"", "", false},
		{"https://App.Example.com", "https://app.example.com", false},
		{"https://a.example:443/\r\nhttps://a.example, https://b.example:8443", "https://a.example https://b.example:8443", false},
		{"http://a.example", "", true},
		{"https://a.example/path", "", true},
		{"a.example", "", true},
		{strings.Repeat("https://a.example ", 3), "https://a.example", false},
	} {
		got, msg := parseOrigins(url.Values{"origins": {tc.in}})
		if (msg != "") != tc.bad || strings.Join(got, " ") != tc.want {
			t.Errorf("parseOrigins(%q) = %q, %q; want %q (error %v)", tc.in, got, msg, tc.want, tc.bad)
		}
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/audit":            "/audit",
		"/devices/x?msg=1":  "/devices/x?msg=1",
		"":                  "/",
		"//evil.example":    "/",
		"/\\evil.example":   "/",
		"https://evil.test": "/",
		"/a\r\nSet-Cookie:": "/",
		"/\t/evil.example":  "/",
		"/\n/evil.example":  "/",
		"/%09/evil.example": "/%09/evil.example", // stays a path on this site
		"/ /evil.example":   "/",
		"/\u3000/evil":      "/",
		"/\x00/evil":        "/",
		"/\x7f/evil":        "/",
		"/a\\b":             "/",
		"/%2F%2Fevil":       "/%2F%2Fevil",
		"/devices/x#frag":   "/devices/x#frag",
		"javascript:alert":  "/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzForms feeds arbitrary form bodies to every form parser of the UI:
// none may panic, and what they accept must keep their promises.
func FuzzForms(f *testing.F) {
	for _, seed := range []string{
		"name=alice&password=x&next=%2Faudit",
		"next=%2F%2Fevil.example",
		"next=%2F%09%2Fevil.example",
		"token=t&name=root&password=correct+horse+battery&password2=correct+horse+battery",
		"current=a&new=bbbbbbbbbbbb&new2=bbbbbbbbbbbb",
		"name=Living+room+TV",
		"name=%00%1b",
		"origins=https%3A%2F%2Fa.example%0Ahttps%3A%2F%2Fb.example%3A8443",
		"origins=https%3A%2F%2F%5B%3A%3A1%5D%3A443",
		"user_code=wdjb-mjht",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		v, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		l := parseLoginForm(v)
		if n := l.Next; !strings.HasPrefix(n, "/") || strings.HasPrefix(n, "//") || strings.ContainsAny(n, "\\\t\r\n") {
			t.Errorf("login next %q leaves the site", n)
		} else if u, err := url.Parse(n); err != nil || u.Host != "" || u.Scheme != "" {
			t.Errorf("login next %q parses as %v, %v", n, u, err)
		}
		if s := parseSetupForm(v); s.Error == "" && len(s.Password) < 10 {
			t.Errorf("setup accepted password %q", s.Password)
		}
		parsePasswordForm(v)
		if name, msg := parseDeviceName(v); msg == "" {
			if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxDeviceName {
				t.Errorf("device name %q accepted", name)
			}
		}
		if origins, msg := parseOrigins(v); msg == "" {
			if len(origins) > devices.MaxOrigins {
				t.Errorf("%d origins accepted", len(origins))
			}
			for _, o := range origins {
				if again, err := devices.NormalizeOrigin(o); err != nil || again != o || !strings.HasPrefix(o, "https://") {
					t.Errorf("origin %q is not normalized (%q, %v)", o, again, err)
				}
			}
		}
		if c := userCodeField(v.Get("user_code")); len(c) > 32 {
			t.Errorf("code field kept %d bytes", len(c))
		}
		if n := passkeyName(v.Get("name")); n == "" || utf8.RuneCountInString(n) > 40 {
			t.Errorf("passkey name %q kept", n)
		}
	})
}
