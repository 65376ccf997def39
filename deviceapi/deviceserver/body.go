package deviceserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/lantls/lantls/internal/jsonkeys"
	"github.com/lantls/lantls/problem"
)

// checkJSON refuses a body sent as anything but application/json (or
// without a type) with a malformed problem; what names the body.
func checkJSON(r *http.Request, what string) error {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "" && ct != "application/json" {
		return problem.MalformedErr("send the %s as application/json, not %s", what, ct)
	}
	return nil
}

// decodeBody reads one JSON value from at most max bytes of r into v: no
// member named twice (internal/jsonkeys), none that v lacks, nothing after
// it. shape is what the body should look like, for the error.
func decodeBody(r io.Reader, max int64, v any, shape string) error {
	raw, err := io.ReadAll(io.LimitReader(r, max))
	if err != nil {
		return fmt.Errorf("cannot read the body: %v", err)
	}
	if k, dup := jsonkeys.Duplicate(raw); dup {
		return fmt.Errorf("the body has %q twice", k)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("the body is not %s: %v", shape, err)
	}
	if dec.More() {
		return errors.New("the body has more than one JSON value")
	}
	return nil
}

// writeJSON writes v as the JSON answer of a request that changed
// something, which no cache may keep.
func writeJSON(w http.ResponseWriter, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(append(b, '\n'))
}
