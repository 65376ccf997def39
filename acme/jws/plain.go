package jws

import (
	"encoding/json"

	"github.com/lantls/lantls/internal/jsonkeys"
	"github.com/lantls/lantls/problem"
)

// The common forms of the envelope and of a kid request's protected
// header are read by plainMembers, without encoding/json: every member a
// string of printable ASCII (base64url, a URL, an algorithm name). Any
// other form (a jwk header, an escape, an unknown or repeated member, a
// member name in other case) goes to encoding/json as before, so both
// ways read the same (FuzzPlainMatchesJSON). On the issuer's hot path the
// two decodes and two duplicate scans of each request were 6% of its CPU.

// envelope is a flattened JWS as Parse reads it.
type envelope struct {
	protected, payload, signature *string
	signatures, header            bool // present: refused
}

// The members of the plain envelope, in the order of their values.
var envelopeNames = []string{"protected", "payload", "signature"}

// readEnvelope reads body, a JSON object, as a flattened JWS.
func readEnvelope(body []byte) (envelope, error) {
	var v [3]string
	if present, ok := plainMembers(body, envelopeNames, v[:]); ok {
		var e envelope
		for i, p := range []**string{&e.protected, &e.payload, &e.signature} {
			if present&(1<<i) != 0 {
				*p = &v[i]
			}
		}
		return e, nil
	}
	var f flattened
	if err := json.Unmarshal(body, &f); err != nil {
		return envelope{}, problem.MalformedErr("request body is not valid JSON")
	}
	if k, dup := jsonkeys.Duplicate(body); dup {
		return envelope{}, problem.MalformedErr("JWS member %q appears twice", k)
	}
	return envelope{protected: f.Protected, payload: f.Payload, signature: f.Signature,
		signatures: f.Signatures != nil, header: f.Header != nil}, nil
}

// header is a protected header as Parse reads it: nonce and url, or, when
// encoding/json read it, their JSON for Parse to decode.
type header struct {
	alg, kid, nonce, url string
	nonceJSON, urlJSON   json.RawMessage
	jwk                  json.RawMessage
	b64OrCrit            bool
}

// The members of a plain kid header, in the order of their values.
var headerNames = []string{"alg", "kid", "nonce", "url"}

// readHeader reads raw, the decoded protected header.
func readHeader(raw []byte) (header, error) {
	var v [4]string
	if _, ok := plainMembers(raw, headerNames, v[:]); ok {
		return header{alg: v[0], kid: v[1], nonce: v[2], url: v[3]}, nil
	}
	var h protectedHeader
	if err := json.Unmarshal(raw, &h); err != nil {
		return header{}, problem.MalformedErr("JWS protected header is not a JSON object")
	}
	// RFC 7515 section 5.2: a duplicate header parameter is refused, not
	// read as whichever a parser happens to keep.
	if k, dup := jsonkeys.Duplicate(raw); dup {
		return header{}, problem.MalformedErr("JWS protected header %q appears twice", k)
	}
	return header{alg: h.Alg, kid: h.KID, nonceJSON: h.Nonce, urlJSON: h.URL, jwk: h.JWK,
		b64OrCrit: h.B64 != nil || h.Crit != nil}, nil
}

// plainMembers reads data as a JSON object whose every member is named
// in names (exactly, at most once) and has a string value of printable
// ASCII without escapes, as encoding/json would read it into a struct
// with a string field per name. It puts each value at the index of its
// name in vals and sets that bit of present. ok is false when data is
// of any other form, or not JSON.
func plainMembers(data []byte, names []string, vals []string) (present uint, ok bool) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return 0, false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return 0, skipSpace(data, i+1) == len(data)
	}
	for {
		name, next, ok := plainString(data, i)
		if !ok {
			return 0, false
		}
		k := -1
		for j, n := range names {
			if string(name) == n {
				k = j
				break
			}
		}
		if k < 0 || present&(1<<k) != 0 {
			return 0, false
		}
		i = skipSpace(data, next)
		if i >= len(data) || data[i] != ':' {
			return 0, false
		}
		value, next, ok := plainString(data, skipSpace(data, i+1))
		if !ok {
			return 0, false
		}
		vals[k] = string(value)
		present |= 1 << k
		i = skipSpace(data, next)
		if i >= len(data) {
			return 0, false
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return present, skipSpace(data, i+1) == len(data)
		default:
			return 0, false
		}
	}
}

// plainString returns the contents of the JSON string at data[i:], and
// the index after it, if it holds only printable ASCII and no escape.
func plainString(data []byte, i int) (s []byte, next int, ok bool) {
	if i >= len(data) || data[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(data); j++ {
		switch c := data[j]; {
		case c == '"':
			return data[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20 || c > 0x7e:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}
