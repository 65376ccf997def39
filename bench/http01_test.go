package bench

import (
	"io"
	"net/http"
	"testing"
)

func TestHTTP01(t *testing.T) {
	h := newHTTP01("127.0.0.1:0")
	defer h.close()
	if err := h.set("tok", "tok.thumb"); err != nil {
		t.Fatal(err)
	}
	base := "http://" + h.ln.Addr().String()
	get := func(path string) (int, string) {
		t.Helper()
		res, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := get("/.well-known/acme-challenge/tok"); code != 200 || body != "tok.thumb" {
		t.Errorf("challenge answered %d %q", code, body)
	}
	h.remove("tok")
	for _, p := range []string{"/.well-known/acme-challenge/tok", "/tok", "/.well-known/acme-challenge/other"} {
		if code, _ := get(p); code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, code)
		}
	}
	if err := newHTTP01("256.0.0.1:80").set("a", "b"); err == nil {
		t.Error("a responder on a bad address started")
	}
}
