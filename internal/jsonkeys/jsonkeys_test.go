package jsonkeys

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestDuplicate(t *testing.T) {
	for in, want := range map[string]string{
		`{}`:                                     "",
		`{"a":1,"b":2}`:                          "",
		`{"a":1,"a":2}`:                          "a",
		`{"alg":"none","kid":"x","alg":"ES256"}`: "alg",
		`{"a":{"b":1},"b":2}`:                    "",
		`{"a":[{"v":1,"v":2}]}`:                  "v",
		`[{"a":1},{"a":1}]`:                      "",
		`{"a":"x,\"a\":1"}`:                      "",
		`{"a":1,"\u0061":2}`:                     "a",
		`{"a\/b":1,"a/b":2}`:                     "a/b",
		`{"s":"\\","s":1}`:                       "s",
		`"just a string"`:                        "",
	} {
		got, found := Duplicate([]byte(in))
		if got != want || found != (want != "") {
			t.Errorf("Duplicate(%s) = %q, %v; want %q", in, got, found, want)
		}
	}
	var b strings.Builder
	b.WriteString("{")
	for i := range 1000 {
		fmt.Fprintf(&b, `"k%d":0,`, i)
	}
	b.WriteString(`"k999":1}`)
	if got, _ := Duplicate([]byte(b.String())); got != "k999" {
		t.Errorf("large object: %q, want k999", got)
	}
}

// reference finds a duplicate key with encoding/json's tokenizer.
func reference(data []byte) bool {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	type fr struct {
		object bool
		keys   map[string]bool
		key    bool
	}
	var stack []*fr
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		var f *fr
		if len(stack) > 0 {
			f = stack[len(stack)-1]
		}
		isKey := f != nil && f.object && f.key
		if f != nil && f.object {
			f.key = !f.key
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				stack = append(stack, &fr{object: true, keys: map[string]bool{}, key: true})
			case '[':
				stack = append(stack, &fr{})
			default:
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].key = true
				}
				continue
			}
			if f != nil && f.object {
				// a container as a value: the next token of f is a key
				f.key = false
			}
		case string:
			if isKey {
				if f.keys[v] {
					return true
				}
				f.keys[v] = true
			}
		}
		if len(stack) > 0 && f != nil && f.object && !isKey {
			f.key = true
		}
	}
}

func FuzzDuplicate(f *testing.F) {
	for _, s := range []string{`{"a":1,"a":2}`, `{"a":[{"b":1,"b":2}]}`, `{"\u0061":1,"a":1}`, `[{"x":{"y":[1,{"z":1}]},"x":2}]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			Duplicate(data) // no panic on anything
			return
		}
		_, got := Duplicate(data)
		if want := reference(data); got != want {
			t.Errorf("Duplicate(%s) = %v, reference %v", data, got, want)
		}
	})
}
