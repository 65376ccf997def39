// Package spec holds the lantls protocol specifications (the Markdown files
// beside this one) and the machinery that keeps their examples true: every
// example marked with a golden comment is an exchange that a test makes
// with a running issuer or agent, rendered the way the text shows it.
//
// A golden example in a specification is a comment and a fenced block:
//
//	<!-- golden: pair-authorization -->
//	```http
//	POST /pair/device_authorization HTTP/1.1
//	...
//	```
//
// `go test ./docs/spec` fails when an example and the exchange differ, and
// `go test ./docs/spec -update` rewrites the examples from the exchanges.
package spec

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Exchange is one HTTP request and its response, with both bodies read.
type Exchange struct {
	Request      *http.Request
	RequestBody  []byte
	Response     *http.Response
	ResponseBody []byte
}

// Recorder is an http.RoundTripper that keeps every exchange it carries.
type Recorder struct {
	Next http.RoundTripper

	mu        sync.Mutex
	exchanges []*Exchange
}

// RoundTrip carries req through Next and records the exchange.
func (rec *Recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	resp, err := rec.Next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	rec.mu.Lock()
	rec.exchanges = append(rec.exchanges, &Exchange{Request: req, RequestBody: body, Response: resp, ResponseBody: respBody})
	rec.mu.Unlock()
	return resp, nil
}

// Last returns the latest exchange whose method is method and whose path
// starts with path, or nil.
func (rec *Recorder) Last(method, path string) *Exchange {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for i := len(rec.exchanges) - 1; i >= 0; i-- {
		e := rec.exchanges[i]
		if e.Request.Method == method && strings.HasPrefix(e.Request.URL.Path, path) {
			return e
		}
	}
	return nil
}

// All returns every exchange recorded so far, in order.
func (rec *Recorder) All() []*Exchange {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]*Exchange(nil), rec.exchanges...)
}

// shownHeaders are the headers an example shows, in this order: the ones a
// peer acts on. Date, Content-Length, User-Agent and the like vary or do
// not matter to the protocol.
var shownHeaders = []string{
	"Authorization", "Content-Type", "Accept", "If-None-Match", "Origin",
	"Access-Control-Request-Method", "Access-Control-Request-Headers",
	"Access-Control-Request-Private-Network",
	"Location", "Link", "Replay-Nonce", "Retry-After", "ETag", "Cache-Control",
	"Vary", "WWW-Authenticate",
	"Access-Control-Allow-Origin", "Access-Control-Allow-Methods",
	"Access-Control-Allow-Headers", "Access-Control-Allow-Credentials",
	"Access-Control-Allow-Private-Network", "Access-Control-Max-Age",
}

// Subst rewrites the values of one run that vary from run to run (keys,
// codes, nonces, IDs, times) into named placeholders such as <nonce>, so
// that an example is the same text on every run.
type Subst struct {
	pairs []string // old, new, ...
	seen  map[string]bool
}

// Add makes every later rendering show placeholder where value appears.
// Longer values are replaced first, so a value inside another is safe.
func (s *Subst) Add(value, placeholder string) {
	if value == "" {
		return
	}
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	if s.seen[value] {
		return
	}
	s.seen[value] = true
	s.pairs = append(s.pairs, value, placeholder)
}

var (
	rfc3339  = regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})`)
	pemBlock = regexp.MustCompile(`-----BEGIN ([A-Z ]+)-----\n[A-Za-z0-9+/=\n]+-----END [A-Z ]+-----`)
	acmeURL  = regexp.MustCompile(`/acme/([a-z-]+)/([A-Za-z0-9_.-]+)`)
)

// Apply returns text with every registered value replaced, URLs' IDs named
// after their kind (/acme/order/<order-id>), times shown as <time> and PEM
// blocks shortened.
func (s *Subst) Apply(text string) string {
	for _, m := range acmeURL.FindAllStringSubmatch(text, -1) {
		s.Add(m[2], "<"+m[1]+"-id>")
	}
	pairs := make([][2]string, 0, len(s.pairs)/2)
	for i := 0; i < len(s.pairs); i += 2 {
		pairs = append(pairs, [2]string{s.pairs[i], s.pairs[i+1]})
	}
	sort.SliceStable(pairs, func(i, j int) bool { return len(pairs[i][0]) > len(pairs[j][0]) })
	for _, p := range pairs {
		text = strings.ReplaceAll(text, p[0], p[1])
	}
	text = rfc3339.ReplaceAllString(text, "<time>")
	return pemBlock.ReplaceAllString(text, "-----BEGIN $1-----\n...\n-----END $1-----")
}

// Render shows an exchange as a specification's example: the request line,
// the shown headers and the body, a blank line, then the response the same
// way. JSON is indented; a JWS shows its protected header and payload
// decoded, as RFC 8555's examples do; a form shows one field a line.
func Render(e *Exchange, host string) string {
	var b strings.Builder
	path := e.Request.URL.EscapedPath()
	if e.Request.URL.RawQuery != "" {
		path += "?" + e.Request.URL.RawQuery
	}
	fmt.Fprintf(&b, "%s %s HTTP/1.1\nHost: %s\n", e.Request.Method, path, host)
	writeHeaders(&b, e.Request.Header)
	writeBody(&b, e.Request.Header.Get("Content-Type"), e.RequestBody)
	fmt.Fprintf(&b, "\nHTTP/1.1 %s\n", e.Response.Status)
	writeHeaders(&b, e.Response.Header)
	writeBody(&b, e.Response.Header.Get("Content-Type"), e.ResponseBody)
	return strings.TrimRight(b.String(), "\n") + "\n"
}

func writeHeaders(b *strings.Builder, h http.Header) {
	for _, name := range shownHeaders {
		for _, v := range h.Values(name) {
			fmt.Fprintf(b, "%s: %s\n", name, v)
		}
	}
}

func writeBody(b *strings.Builder, contentType string, body []byte) {
	if len(body) == 0 {
		return
	}
	b.WriteString("\n")
	mt, _, _ := strings.Cut(contentType, ";")
	switch strings.TrimSpace(mt) {
	case "application/x-www-form-urlencoded":
		writeForm(b, body)
	case "application/jose+json":
		b.WriteString(jwsText(body, ""))
		b.WriteString("\n")
	case "application/json", "application/problem+json":
		b.WriteString(indentJSON(body, ""))
		b.WriteString("\n")
	default:
		b.Write(bytes.TrimRight(body, "\n"))
		b.WriteString("\n")
	}
}

// writeForm writes a form one field a line, values percent-decoded, as
// RFC 6749's examples break them "for display purposes only".
func writeForm(b *strings.Builder, body []byte) {
	for i, pair := range strings.Split(string(body), "&") {
		k, v, _ := strings.Cut(pair, "=")
		if dv, err := url.QueryUnescape(v); err == nil {
			v = dv
		}
		if i > 0 {
			b.WriteString("&")
		}
		fmt.Fprintf(b, "%s=%s\n", k, v)
	}
}

func indentJSON(body []byte, prefix string) string {
	var out bytes.Buffer
	if err := json.Indent(&out, bytes.TrimSpace(body), prefix, "  "); err != nil {
		return string(bytes.TrimSpace(body))
	}
	return out.String()
}

// jwsText shows a flattened JWS with its protected header and payload
// decoded; a JWS inside the payload (an external account binding) is shown
// the same way.
func jwsText(body []byte, prefix string) string {
	var jws struct {
		Protected string `json:"protected"`
		Payload   string `json:"payload"`
		Signature string `json:"signature"`
	}
	if err := json.Unmarshal(body, &jws); err != nil || jws.Protected == "" {
		return indentJSON(body, prefix)
	}
	decoded := func(s string) string {
		if s == "" {
			return `""`
		}
		raw, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			return `"` + s + `"`
		}
		return "base64url(" + payloadText(raw, prefix+"  ") + ")"
	}
	in := prefix + "  "
	return "{\n" +
		in + `"protected": ` + decoded(jws.Protected) + ",\n" +
		in + `"payload": ` + decoded(jws.Payload) + ",\n" +
		in + `"signature": "<signature>"` + "\n" +
		prefix + "}"
}

// payloadText indents a JWS payload, decoding a nested JWS in any of its
// top-level fields.
func payloadText(raw []byte, prefix string) string {
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return indentJSON(raw, prefix)
	}
	nested := false
	for _, v := range fields {
		var inner struct{ Protected, Signature string }
		if json.Unmarshal(v, &inner) == nil && inner.Protected != "" && inner.Signature != "" {
			nested = true
		}
	}
	if !nested {
		return indentJSON(raw, prefix)
	}
	// Keep the payload's order of fields: walk it with a decoder.
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.Token() // {
	var b strings.Builder
	b.WriteString("{\n")
	first := true
	for dec.More() {
		tok, _ := dec.Token()
		key, _ := tok.(string)
		var v json.RawMessage
		dec.Decode(&v)
		if !first {
			b.WriteString(",\n")
		}
		first = false
		k, _ := json.Marshal(key)
		var inner struct{ Protected, Signature string }
		if json.Unmarshal(v, &inner) == nil && inner.Protected != "" && inner.Signature != "" {
			fmt.Fprintf(&b, "%s  %s: %s", prefix, k, jwsText(v, prefix+"  "))
		} else {
			fmt.Fprintf(&b, "%s  %s: %s", prefix, k, indentJSON(v, prefix+"  "))
		}
	}
	b.WriteString("\n" + prefix + "}")
	return b.String()
}

// goldenBlock finds the examples of a specification: a golden comment, a
// line that opens a fence, the example, and the line that closes it.
var goldenBlock = regexp.MustCompile("(?m)^<!-- golden: ([a-z0-9-]+) -->\n(```[a-z]*\n)((?s:.*?))(```)$")

// Examples returns the named examples of a specification's text.
func Examples(text string) map[string]string {
	out := map[string]string{}
	for _, m := range goldenBlock.FindAllStringSubmatch(text, -1) {
		out[m[1]] = m[3]
	}
	return out
}

// Rewrite returns text with each named example replaced by got[name];
// examples without an entry in got are left alone.
func Rewrite(text string, got map[string]string) string {
	return goldenBlock.ReplaceAllStringFunc(text, func(block string) string {
		m := goldenBlock.FindStringSubmatch(block)
		body, ok := got[m[1]]
		if !ok {
			return block
		}
		return "<!-- golden: " + m[1] + " -->\n" + m[2] + body + m[4]
	})
}

// Check compares the examples of the specification in file with got (the
// rendered exchanges, by name). With update it rewrites the file instead.
// It returns one message per difference: an example that differs, one the
// text has but no test makes, one a test makes but the text lacks.
func Check(file string, got map[string]string, update bool) ([]string, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	text := string(raw)
	if update {
		return nil, os.WriteFile(file, []byte(Rewrite(text, got)), 0o644)
	}
	want := Examples(text)
	var msgs []string
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			msgs = append(msgs, fmt.Sprintf("%s: example %q is not made by any test", file, name))
		case g != w:
			msgs = append(msgs, fmt.Sprintf("%s: example %q differs from the running server:\n--- spec\n%s--- server\n%s", file, name, w, g))
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			msgs = append(msgs, fmt.Sprintf("%s: the test makes example %q but the text has no <!-- golden: %s --> block", file, name, name))
		}
	}
	sort.Strings(msgs)
	return msgs, nil
}
