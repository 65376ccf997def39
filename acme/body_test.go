package acme

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestReadBody reads bodies with and without a Content-Length, up to and
// over maxBodyBytes, and checks that a known length costs one buffer.
func TestReadBody(t *testing.T) {
	for _, tt := range []struct {
		name    string
		size    int
		chunked bool // no Content-Length
		tooBig  bool
	}{
		{"empty", 0, false, false},
		{"a JWS", 1100, false, false},
		{"a JWS, chunked", 1100, true, false},
		{"the largest", maxBodyBytes, false, false},
		{"the largest, chunked", maxBodyBytes, true, false},
		{"one byte over", maxBodyBytes + 1, false, true},
		{"one byte over, chunked", maxBodyBytes + 1, true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want := bytes.Repeat([]byte{'x'}, tt.size)
			var body io.Reader = bytes.NewReader(want)
			if tt.chunked {
				body = io.MultiReader(body) // hides the length
			}
			r := httptest.NewRequest(http.MethodPost, "/", body)
			got, err := readBody(r)
			var mbe *http.MaxBytesError
			switch {
			case tt.tooBig && !errors.As(err, &mbe):
				t.Fatalf("readBody of %d bytes = %v, want a MaxBytesError", tt.size, err)
			case !tt.tooBig && (err != nil || !bytes.Equal(got, want)):
				t.Fatalf("readBody = %d bytes, %v; want the %d sent", len(got), err, tt.size)
			}
		})
	}
	// One for the body, two for the readers (io.ReadAll made five
	// buffers for it, growing from 512 bytes).
	src := make([]byte, 1100)
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(src))
	if allocs := testing.AllocsPerRun(100, func() {
		r.Body = io.NopCloser(bytes.NewReader(src))
		readBody(r)
	}); allocs > 3 {
		t.Errorf("readBody of 1,100 bytes with Content-Length: %v allocations, want at most 3", allocs)
	}
}
