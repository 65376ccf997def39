package acme_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lantls/lantls/acme"
	"github.com/lantls/lantls/acme/internal/acmetest"
	"github.com/lantls/lantls/acme/jws"
	"github.com/lantls/lantls/agent"
	"github.com/lantls/lantls/attest"
	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/internal/swtpmtest"
	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
)

// attestFixture is an issuer that trusts a test manufacturer's root, and a
// device of model "tv" with its account.
type attestFixture struct {
	h     *harness
	maker *agent.TestManufacturer
	dev   *device
	c     *acmetest.Client
}

func newAttestFixture(t *testing.T, rule store.AttestRule) *attestFixture {
	t.Helper()
	maker, err := agent.NewTestManufacturer("Test Maker")
	if err != nil {
		t.Fatal(err)
	}
	fx := &attestFixture{maker: maker}
	fx.h = newHarness(t, func(c *acme.Config) {
		c.Attestation = &attest.Verifier{Roots: []*x509.Certificate{maker.Cert}, Now: time.Now}
	})
	fx.dev = fx.model("tv")
	if rule != "" {
		if err := fx.h.store.SetAttestPolicy(fx.h.ctx, &store.AttestPolicy{Model: "tv", Rule: rule, Actor: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	fx.c = fx.h.account(fx.dev)
	return fx
}

// model makes a device of model m with an unused EAB key.
func (fx *attestFixture) model(m string) *device {
	h := fx.h
	h.tb.Helper()
	d := &store.Device{ID: randomString(12), Label: names.RandomLabel(), OwnerID: h.owner.ID, Name: "tv", Model: m, Status: store.StatusActive}
	if err := h.store.CreateDevice(h.ctx, d); err != nil {
		h.tb.Fatalf("create device: %v", err)
	}
	dev := &device{Device: d}
	dev.eabKID, dev.eabKey = h.newEAB(d.ID)
	return dev
}

// deviceOrder orders the device's name and, unless typ is empty, the
// device identifier (typ, value).
func (fx *attestFixture) deviceOrder(t *testing.T, typ, value string) (*acmetest.Response, *order) {
	t.Helper()
	ids := dnsIDs(fx.dev.name(""))
	if typ != "" {
		ids = append(ids, store.Identifier{Type: typ, Value: value})
	}
	res, err := fx.c.Post(fx.h.ctx, fx.c.Dir.NewOrder, map[string]any{"identifiers": ids})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != http.StatusCreated {
		return res, nil
	}
	o := &order{URL: res.Location()}
	if err := res.Decode(o); err != nil {
		t.Fatal(err)
	}
	return res, o
}

// authz is an authorization as a client reads it.
type authz struct {
	Identifier store.Identifier `json:"identifier"`
	Status     string           `json:"status"`
	Challenges []struct {
		Type   string            `json:"type"`
		URL    string            `json:"url"`
		Token  string            `json:"token"`
		Status string            `json:"status"`
		Error  *acmetest.Problem `json:"error"`
	} `json:"challenges"`
}

func (fx *attestFixture) authzs(t *testing.T, o *order) []authz {
	t.Helper()
	var out []authz
	for _, u := range o.Authorizations {
		res, err := fx.c.Post(fx.h.ctx, u, nil)
		if err != nil || res.Status != http.StatusOK {
			t.Fatalf("get authorization: %v %v", res, err)
		}
		var a authz
		if err := res.Decode(&a); err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

// challenge returns the order's device-attest-01 challenge URL and the key
// authorization to attest.
func (fx *attestFixture) challenge(t *testing.T, o *order) (url, keyAuth string) {
	t.Helper()
	for _, a := range fx.authzs(t, o) {
		for _, c := range a.Challenges {
			if c.Type == "device-attest-01" {
				tp, err := jws.PublicKeyThumbprint(fx.c.Key.Public())
				if err != nil {
					t.Fatal(err)
				}
				return c.URL, c.Token + "." + tp
			}
		}
	}
	t.Fatalf("order has no device-attest-01 challenge")
	return "", ""
}

// answer posts attObj to the challenge.
func (fx *attestFixture) answer(t *testing.T, url string, attObj []byte) *acmetest.Response {
	t.Helper()
	res, err := fx.c.Post(fx.h.ctx, url, map[string]string{"attObj": b64(attObj)})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// finalizeWith finalizes o for the device's name with a CSR of key.
func (fx *attestFixture) finalizeWith(t *testing.T, o *order, key crypto.Signer) *acmetest.Response {
	t.Helper()
	res, err := fx.c.Post(fx.h.ctx, o.Finalize, map[string]string{"csr": b64(csr(t, key, fx.dev.name("")))})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (fx *attestFixture) getOrder(t *testing.T, o *order) *order {
	t.Helper()
	res, err := fx.c.Post(fx.h.ctx, o.URL, nil)
	if err != nil || res.Status != http.StatusOK {
		t.Fatalf("get order: %v %v", res, err)
	}
	cur := &order{URL: o.URL}
	if err := res.Decode(cur); err != nil {
		t.Fatal(err)
	}
	return cur
}

func wantAttestProblem(t *testing.T, res *acmetest.Response, kind problem.Kind, status int, detail string) {
	t.Helper()
	p := res.Problem()
	if res.Status != status || p == nil || p.Type != problem.URNPrefix+string(kind) || !strings.Contains(p.Detail, detail) {
		t.Errorf("got %v, want %d %s saying %q", res, status, kind, detail)
	}
}

// TestDeviceAttestRequired walks a device whose model requires attestation:
// no order without the device identifier; with it, the dns authorization
// is valid (the pairing) and the device one pending with a
// device-attest-01 challenge; finalize waits for it; a verified "packed"
// statement makes the order ready; the certificate is issued for the
// attested key and names only the DNS names; the device's attestation and
// the audit log record it.
func TestDeviceAttestRequired(t *testing.T) {
	fx := newAttestFixture(t, store.AttestRequired)
	res, _ := fx.deviceOrder(t, "", "")
	wantAttestProblem(t, res, problem.RejectedIdentifier, 400, `model "tv" must prove their key in hardware`)

	res, o := fx.deviceOrder(t, attest.PermanentIdentifier, "SN-1")
	if o == nil || o.Status != "pending" {
		t.Fatalf("new order with a device identifier: %v", res)
	}
	as := fx.authzs(t, o)
	if len(as) != 2 || as[0].Status != "valid" || as[1].Status != "pending" || as[1].Identifier.Type != attest.PermanentIdentifier ||
		len(as[1].Challenges) != 1 || as[1].Challenges[0].Type != "device-attest-01" || len(as[1].Challenges[0].Token) < 22 {
		t.Fatalf("authorizations: %+v", as)
	}
	att, err := agent.NewSoftwareAttester(fx.maker, attest.PermanentIdentifier, "SN-1")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := att.Key(context.Background())
	wantAttestProblem(t, fx.finalizeWith(t, o, key), problem.OrderNotReady, 403, "pending")

	url, keyAuth := fx.challenge(t, o)
	obj, err := att.Attest(context.Background(), keyAuth)
	if err != nil {
		t.Fatal(err)
	}
	res = fx.answer(t, url, obj)
	var ch struct{ Status string }
	if res.Status != http.StatusOK || res.Decode(&ch) != nil || ch.Status != "valid" {
		t.Fatalf("answer: %v", res)
	}
	if cur := fx.getOrder(t, o); cur.Status != "ready" {
		t.Fatalf("order after attestation: %s, want ready", cur.Status)
	}
	res = fx.finalizeWith(t, o, key)
	done := &order{}
	if res.Status != http.StatusOK || res.Decode(done) != nil || done.Status != "valid" {
		t.Fatalf("finalize: %v", res)
	}
	chain := fx.h.download(fx.c, done.Certificate)
	if !slices.Equal(chain[0].DNSNames, []string{fx.dev.name("")}) || !key.Public().(*ecdsa.PublicKey).Equal(chain[0].PublicKey) {
		t.Errorf("certificate names %v key %v; want only the DNS name, for the attested key", chain[0].DNSNames, chain[0].PublicKey)
	}

	got, err := fx.h.store.GetDeviceAttestation(fx.h.ctx, fx.dev.ID)
	if err != nil {
		t.Fatalf("GetDeviceAttestation: %v", err)
	}
	if got.Format != "packed" || got.RootFingerprint != attest.Fingerprint(fx.maker.Cert) || got.Model != "tv" || got.Identifier.Value != "SN-1" {
		t.Errorf("device attestation = %+v", got)
	}
	log, err := fx.h.store.ListAudit(fx.h.ctx, store.AuditFilter{OwnerID: fx.h.owner.ID})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(log, func(e *store.AuditEntry) bool {
		return e.Action == devices.AuditAttest && e.DeviceID == fx.dev.ID && strings.Contains(e.Detail, "SN-1")
	}) {
		t.Errorf("audit log lacks the attestation: %v", log)
	}
}

// TestDeviceAttestTPM is the same walk with a "tpm" statement made by
// Debian's swtpm, a real TPM 2.0 implementation: its attestation key is
// certified by the test manufacturer, the certificate key never leaves it.
func TestDeviceAttestTPM(t *testing.T) {
	fx := newAttestFixture(t, store.AttestRequired)
	tpm, err := agent.OpenTPM(swtpmtest.Start(t))
	if err != nil {
		t.Fatal(err)
	}
	defer tpm.Close()
	akPub, err := agent.TPMAttestationKey(tpm)
	if err != nil {
		t.Fatal(err)
	}
	akCert, err := fx.maker.Certify(akPub, attest.PermanentIdentifier, "TPM-42", agent.CertifyOptions{AK: true})
	if err != nil {
		t.Fatal(err)
	}
	att, err := agent.NewTPMAttester(tpm, agent.TPMConfig{AKChain: [][]byte{akCert}, Identifier: "TPM-42"})
	if err != nil {
		t.Fatal(err)
	}
	defer att.Close()

	_, o := fx.deviceOrder(t, attest.PermanentIdentifier, "TPM-42")
	url, keyAuth := fx.challenge(t, o)
	obj, err := att.Attest(context.Background(), keyAuth)
	if err != nil {
		t.Fatal(err)
	}
	if res := fx.answer(t, url, obj); res.Status != http.StatusOK {
		t.Fatalf("answer: %v", res)
	}
	key, _ := att.Key(context.Background())
	res := fx.finalizeWith(t, o, key)
	done := &order{}
	if res.Status != http.StatusOK || res.Decode(done) != nil || done.Status != "valid" {
		t.Fatalf("finalize with the TPM key: %v", res)
	}
	if a, err := fx.h.store.GetDeviceAttestation(fx.h.ctx, fx.dev.ID); err != nil || a.Format != "tpm" {
		t.Errorf("device attestation: %+v, %v; want a tpm one", a, err)
	}
}

// TestDeviceAttestRefused checks each way an answer fails: the answer is
// badAttestationStatement (400) with the reason, and the challenge, its
// authorization and the order become invalid (draft section 5).
func TestDeviceAttestRefused(t *testing.T) {
	fx := newAttestFixture(t, store.AttestRequired)
	other, err := agent.NewTestManufacturer("Other Maker")
	if err != nil {
		t.Fatal(err)
	}
	goodKey := newKey(t)
	leaf, err := fx.maker.Certify(goodKey.Public(), attest.PermanentIdentifier, "SN-1", agent.CertifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	expired, err := fx.maker.Certify(goodKey.Public(), attest.PermanentIdentifier, "SN-1", agent.CertifyOptions{
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	sign := func(key *ecdsa.PrivateKey, msg string, x5c ...[]byte) []byte {
		d := sha256.Sum256([]byte(msg))
		sig, err := ecdsa.SignASN1(rand.Reader, key, d[:])
		if err != nil {
			t.Fatal(err)
		}
		obj, err := attest.Marshal(attest.FormatPacked, attest.PackedStatement{Alg: attest.AlgES256, Sig: sig, X5C: x5c})
		if err != nil {
			t.Fatal(err)
		}
		return obj
	}
	for _, tc := range []struct {
		name   string
		obj    func(keyAuth string) []byte
		detail string
	}{
		{"wrong root", func(keyAuth string) []byte {
			a, _ := agent.NewSoftwareAttester(other, attest.PermanentIdentifier, "SN-1")
			obj, _ := a.Attest(context.Background(), keyAuth)
			return obj
		}, "does not chain to a root"},
		{"replayed from another challenge", func(string) []byte { return sign(goodKey, "other-token.thumbprint", leaf) }, "signature does not verify"},
		{"malformed CBOR", func(string) []byte { return []byte{0xa1, 0x63, 'f', 'm'} }, "not the CBOR map"},
		{"expired attestation certificate", func(keyAuth string) []byte { return sign(goodKey, keyAuth, expired) }, "is valid from"},
		{"packed statement with a bad signature", func(keyAuth string) []byte {
			return sign(newKey(t), keyAuth, leaf)
		}, "signature does not verify"},
		{"another device's identifier", func(keyAuth string) []byte {
			a, _ := agent.NewSoftwareAttester(fx.maker, attest.PermanentIdentifier, "SN-2")
			obj, _ := a.Attest(context.Background(), keyAuth)
			return obj
		}, `proves ["SN-2"], not the order's permanent-identifier "SN-1"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, o := fx.deviceOrder(t, attest.PermanentIdentifier, "SN-1")
			url, keyAuth := fx.challenge(t, o)
			wantAttestProblem(t, fx.answer(t, url, tc.obj(keyAuth)), problem.BadAttestationStatement, 400, tc.detail)
			as := fx.authzs(t, o)
			if as[1].Status != "invalid" || as[1].Challenges[0].Status != "invalid" || as[1].Challenges[0].Error == nil ||
				!strings.Contains(as[1].Challenges[0].Error.Detail, tc.detail) {
				t.Errorf("authorization after a refusal: %+v", as[1])
			}
			if cur := fx.getOrder(t, o); cur.Status != "invalid" || cur.Error == nil {
				t.Errorf("order after a refusal: %s %+v, want invalid with the problem", cur.Status, cur.Error)
			}
		})
	}

	t.Run("a key other than the attested one", func(t *testing.T) {
		_, o := fx.deviceOrder(t, attest.PermanentIdentifier, "SN-1")
		url, keyAuth := fx.challenge(t, o)
		if res := fx.answer(t, url, sign(goodKey, keyAuth, leaf)); res.Status != http.StatusOK {
			t.Fatalf("answer: %v", res)
		}
		wantAttestProblem(t, fx.finalizeWith(t, o, newKey(t)), problem.BadAttestationStatement, 400, "not the key the device attested")
		if res := fx.finalizeWith(t, o, goodKey); res.Status != http.StatusOK {
			t.Errorf("finalize with the attested key after a refusal: %v", res)
		}
	})
}

// TestDeviceAttestRules checks the other rules: a model without a rule
// still issues on its pairing alone (and may attest); off refuses the
// device identifier; a malformed identifier is malformed; an issuer
// without roots offers no attestation; a rule made required after an
// order was made stops its finalize.
func TestDeviceAttestRules(t *testing.T) {
	fx := newAttestFixture(t, "")
	fx.h.issue(fx.c, fx.dev.name(""))
	if _, o := fx.deviceOrder(t, attest.PermanentIdentifier, "SN-1"); o == nil || o.Status != "pending" {
		t.Errorf("a device without a rule, on an issuer with roots, may not attest")
	}

	res, _ := fx.deviceOrder(t, attest.PermanentIdentifier, "A/B/1.2")
	wantAttestProblem(t, res, problem.Malformed, 400, "identifiers cannot be issued")
	if p := res.Problem(); p == nil || len(p.Subproblems) != 1 || !strings.Contains(p.Subproblems[0].Detail, "dotted-decimal") {
		t.Errorf("malformed identifier problem: %v", res)
	}
	res, _ = fx.deviceOrder(t, attest.HardwareModule, "HSM-1/1.2.3")
	if res.Status != http.StatusCreated {
		t.Errorf("hardware-module identifier: %v", res)
	}

	ready, err := fx.h.tryNewOrder(fx.c, map[string]any{"identifiers": dnsIDs(fx.dev.name(""))})
	if err != nil {
		t.Fatal(err)
	}
	set := func(rule store.AttestRule) {
		if err := fx.h.store.SetAttestPolicy(fx.h.ctx, &store.AttestPolicy{Model: "tv", Rule: rule, Actor: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	set(store.AttestOff)
	res, _ = fx.deviceOrder(t, attest.PermanentIdentifier, "SN-1")
	wantAttestProblem(t, res, problem.RejectedIdentifier, 400, `does not attest devices of model "tv"`)
	set(store.AttestRequired)
	wantAttestProblem(t, fx.finalizeWith(t, ready, newKey(t)), problem.RejectedIdentifier, 400, "must prove their key in hardware")

	bare := newHarness(t)
	d := bare.newDevice("")
	c := bare.account(d)
	r, err := c.Post(bare.ctx, c.Dir.NewOrder, map[string]any{"identifiers": []store.Identifier{
		{Type: "dns", Value: d.name("")}, {Type: attest.PermanentIdentifier, Value: "SN-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	wantAttestProblem(t, r, problem.RejectedIdentifier, 400, "does not attest devices")
	bare.issue(c, d.name(""))
}
