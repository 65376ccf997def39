package agent

import (
	"encoding/json"
	"testing"
)

// FuzzTokenResponse feeds arbitrary /pair/token bodies to the parser and
// the credentials check: either credentials with every field the agent
// needs, or an error, never a panic.
func FuzzTokenResponse(f *testing.F) {
	f.Add([]byte(`{"access_token":"t","token_type":"Bearer","lantls":{"directory":"https://i/acme/directory","eab_kid":"k","eab_hmac_key":"aGk","label":"l","zone":"z","names":["l.z","*.l.z"]}}`))
	f.Add([]byte(`{"error":"slow_down"}`))
	f.Add([]byte(`{"lantls":null}`))
	a := &Agent{cfg: Config{Issuer: "https://i"}}
	f.Fuzz(func(t *testing.T, body []byte) {
		var tr tokenResponse
		if json.Unmarshal(body, &tr) != nil {
			return
		}
		c, err := a.credentialsFrom(&tr)
		if err == nil && (c.Token == "" || c.Directory == "" || len(c.Names) == 0) {
			t.Fatalf("accepted incomplete credentials %+v", c)
		}
	})
}

// FuzzPolicy feeds arbitrary policy bodies and Cache-Control values.
func FuzzPolicy(f *testing.F) {
	f.Add([]byte(`{"origins":["https://a.example"]}`), "max-age=30")
	f.Add([]byte(`{"origins":null}`), "no-store, max-age=-1")
	f.Fuzz(func(t *testing.T, body []byte, cc string) {
		var p policy
		json.Unmarshal(body, &p)
		if d := maxAge(cc); d <= 0 {
			t.Fatalf("maxAge(%q) = %v", cc, d)
		}
	})
}
