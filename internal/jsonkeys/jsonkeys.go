// Package jsonkeys finds an object key that appears twice in one JSON
// object. encoding/json keeps the last of them, another parser may keep
// the first: a signed JWS header or payload with two "alg" or two
// "identifiers" would then mean one thing to the issuer and another to
// whatever checked it, so the issuer refuses them (RFC 7515 section 5.2,
// step 4: a duplicate header name MUST be rejected or the last used; RFC
// 8259 section 4: names SHOULD be unique).
package jsonkeys

import "encoding/json"

// smallObject is the key count up to which an object's keys are compared
// in a slice; larger objects use a map.
const smallObject = 16

type frame struct {
	object  bool
	wantKey bool
	keys    []string
	set     map[string]struct{}
}

// Duplicate returns the first key that appears twice in one object of
// data, which must be valid JSON (check with json.Valid or a successful
// Unmarshal first; on invalid JSON the answer means nothing).
func Duplicate(data []byte) (string, bool) {
	var stack []*frame
	top := func() *frame {
		if len(stack) == 0 {
			return nil
		}
		return stack[len(stack)-1]
	}
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '{':
			stack = append(stack, &frame{object: true, wantKey: true})
		case '[':
			stack = append(stack, &frame{})
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case ',':
			if f := top(); f != nil && f.object {
				f.wantKey = true
			}
		case '"':
			start := i
			escaped := false
			for i++; i < len(data) && data[i] != '"'; i++ {
				if data[i] == '\\' {
					escaped = true
					i++
				}
			}
			f := top()
			if f == nil || !f.object || !f.wantKey {
				continue
			}
			f.wantKey = false
			key := string(data[start+1 : min(i, len(data))])
			if escaped {
				if json.Unmarshal(data[start:min(i+1, len(data))], &key) != nil {
					continue
				}
			}
			if f.seen(key) {
				return key, true
			}
		}
	}
	return "", false
}

// seen adds key to f's keys and reports whether it was there already.
func (f *frame) seen(key string) bool {
	if f.set != nil {
		if _, ok := f.set[key]; ok {
			return true
		}
		f.set[key] = struct{}{}
		return false
	}
	for _, k := range f.keys {
		if k == key {
			return true
		}
	}
	f.keys = append(f.keys, key)
	if len(f.keys) > smallObject {
		f.set = make(map[string]struct{}, 2*len(f.keys))
		for _, k := range f.keys {
			f.set[k] = struct{}{}
		}
		f.keys = nil
	}
	return false
}
