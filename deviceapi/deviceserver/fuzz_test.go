package deviceserver

import (
	"strings"
	"testing"
)

// FuzzETagMatch checks the If-None-Match parser: no panic, a match only
// for a header that names the ETag (strong or weak) or "*", and a list
// that names it anywhere matches.
func FuzzETagMatch(f *testing.F) {
	for _, s := range []string{`"abc"`, `W/"abc"`, `"x", "abc"`, `*`, ``, `,,`, `W/`, `"abc`} {
		f.Add(s, `"abc"`)
	}
	f.Fuzz(func(t *testing.T, header, etag string) {
		if etagMatch(header, etag) && !strings.Contains(header, etag) && !strings.Contains(header, "*") {
			t.Fatalf("%q matched ETag %q, which it does not name", header, etag)
		}
		if etag = strings.TrimSpace(etag); etag == "" || strings.Contains(etag, ",") {
			return
		}
		if !etagMatch(header+", W/"+etag, etag) {
			t.Fatalf("%q, W/%s does not match %q", header, etag, etag)
		}
	})
}
