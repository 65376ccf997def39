package acme_test

import (
	"context"
	"crypto"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/lantls/lantls/acme/internal/acmetest"
	"github.com/lantls/lantls/problem"
)

// The tests of bad requests, one per endpoint beside the endpoint's file
// (TestRequestProblems, TestNewAccountProblems, ...), share this: a
// problemFixture of a running server with two devices and an account for
// each, a table of problemCase, and runProblemCases, which sends each case
// and checks its problem type, HTTP status and the headers every ACME
// response carries.

// problemFixture is a server with a device and an account (c) whose names
// the cases order, and another device with its own account.
type problemFixture struct {
	h            *harness
	ctx          context.Context
	dev          *device
	c            *acmetest.Client
	base         string // dev's name L.Z
	orderPayload map[string]any
	otherDev     *device
	other        *acmetest.Client
	usedNonce    string // a nonce a case spent, which the log must not show
}

func newProblemFixture(t *testing.T) *problemFixture {
	t.Helper()
	h := newHarness(t)
	dev := h.newDevice("")
	fx := &problemFixture{h: h, ctx: h.ctx, dev: dev, c: h.account(dev), base: dev.name("")}
	fx.orderPayload = map[string]any{"identifiers": dnsIDs(fx.base)}
	fx.otherDev = h.newDevice("")
	fx.other = h.account(fx.otherDev)
	return fx
}

// problemCase is one bad request: do sends it, and the answer must be a
// problem of kind with status; check, if set, looks further.
type problemCase struct {
	name   string
	do     func(t *testing.T, fx *problemFixture) *acmetest.Response
	kind   problem.Kind
	status int
	check  func(t *testing.T, fx *problemFixture, res *acmetest.Response, p *acmetest.Problem)
}

// runProblemCases runs each case as a subtest.
func runProblemCases(t *testing.T, fx *problemFixture, cases []problemCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			res := tt.do(t, fx)
			p := res.Problem()
			if p == nil {
				t.Fatalf("not a problem document: %v (Content-Type %q)", res, res.Header.Get("Content-Type"))
			}
			if want := problem.URNPrefix + string(tt.kind); p.Type != want || res.Status != tt.status {
				t.Fatalf("got %d %s (%s), want %d %s", res.Status, p.Type, p.Detail, tt.status, want)
			}
			if p.Status != res.Status {
				t.Errorf("document status %d, HTTP status %d", p.Status, res.Status)
			}
			checkCommonHeaders(t, fx.h, res)
			if tt.check != nil {
				tt.check(t, fx, res, p)
			}
		})
	}
}

// checkNoSecretsLogged fails if the log shows the device's EAB key or a
// nonce a case spent.
func (fx *problemFixture) checkNoSecretsLogged(t *testing.T) {
	t.Helper()
	logs := fx.h.logs.String()
	secrets := map[string]string{"EAB key": b64(fx.dev.eabKey)}
	if fx.usedNonce != "" {
		secrets["nonce"] = fx.usedNonce
	}
	for name, secret := range secrets {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains the %s", name)
		}
	}
}

// must turns a transport error into a response that fails the case.
func must(res *acmetest.Response, err error) *acmetest.Response {
	if err != nil {
		return &acmetest.Response{Status: -1, Header: http.Header{}, Body: []byte(err.Error())}
	}
	return res
}

// expect fails a case whose setup request did not get status.
func expect(t *testing.T, res *acmetest.Response, err error, status int) {
	t.Helper()
	if err != nil || res.Status != status {
		t.Fatalf("setup: got %v %v, want status %d", res, err, status)
	}
}

// checkCommonHeaders checks what every ACME response carries.
func checkCommonHeaders(t *testing.T, h *harness, res *acmetest.Response) {
	t.Helper()
	if res.Header.Get("Replay-Nonce") == "" {
		t.Errorf("no Replay-Nonce")
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", res.Header.Get("Cache-Control"))
	}
	index := "<" + h.dirURL + `>;rel="index"`
	found := false
	for _, l := range res.Header.Values("Link") {
		found = found || l == index
	}
	if !found {
		t.Errorf("Link = %q, want %s", res.Header.Values("Link"), index)
	}
}

// get sends a plain GET.
func get(t *testing.T, h *harness, url string) *acmetest.Response {
	t.Helper()
	res, err := h.ts.Client().Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &acmetest.Response{Status: res.StatusCode, Header: res.Header, Body: body}
}

// keyChange asks to roll c's account over to newKey (RFC 8555 section
// 7.3.5).
func keyChange(t *testing.T, c *acmetest.Client, newKey crypto.Signer) (*acmetest.Response, error) {
	t.Helper()
	payload := mustJSON(t, map[string]any{"account": c.KID, "oldKey": acmetest.JWK(c.Key.Public())})
	inner, err := acmetest.Sign(newKey, acmetest.Algorithm(newKey), map[string]any{"jwk": acmetest.JWK(newKey.Public()), "url": c.Dir.KeyChange}, payload)
	if err != nil {
		t.Fatal(err)
	}
	return c.Post(context.Background(), c.Dir.KeyChange, inner.JSON())
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
