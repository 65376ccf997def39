package acme_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	xacme "golang.org/x/crypto/acme"

	"github.com/lantls/lantls/acme/internal/acmetest"
	"github.com/lantls/lantls/problem"
)

func TestKeyChange(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dev := h.newDevice("")
	oldKey, newK := newKey(t), newKey(t)
	cl := &xacme.Client{Key: oldKey, DirectoryURL: h.dirURL, HTTPClient: h.ts.Client()}
	acct, err := cl.Register(ctx, &xacme.Account{
		ExternalAccountBinding: &xacme.ExternalAccountBinding{KID: dev.eabKID, Key: dev.eabKey},
	}, xacme.AcceptTOS)
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	if err := cl.AccountKeyRollover(ctx, newK); err != nil {
		t.Fatalf("key rollover: %v", err)
	}

	// The old key no longer signs for the account, nor finds it.
	old := h.client(oldKey)
	old.KID = acct.URI
	res, err := old.Post(ctx, old.Dir.NewOrder, map[string]any{"identifiers": dnsIDs(dev.name(""))})
	wantProblem(t, res, err, problem.Malformed, http.StatusBadRequest)
	res, err = old.Do(ctx, acmetest.Request{URL: old.Dir.NewAccount, JWK: true, Payload: map[string]bool{"onlyReturnExisting": true}})
	wantProblem(t, res, err, problem.AccountDoesNotExist, http.StatusBadRequest)

	// The new key does, for the same device names.
	if _, err := cl.AuthorizeOrder(ctx, xacme.DomainIDs(dev.name(""), "*."+dev.name(""))); err != nil {
		t.Fatalf("order with the new key: %v", err)
	}
	nc := h.client(newK)
	res, err = nc.Do(ctx, acmetest.Request{URL: nc.Dir.NewAccount, JWK: true, Payload: map[string]bool{"onlyReturnExisting": true}})
	if err != nil || res.Status != http.StatusOK || res.Location() != acct.URI {
		t.Fatalf("lookup by new key: %v %v", res, err)
	}
	stored, err := h.store.GetDevice(ctx, dev.ID)
	if err != nil || stored.Label != dev.Label {
		t.Errorf("device label changed: %v %v", stored, err)
	}
}

func TestAccountDeactivation(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dev := h.newDevice("")
	key := newKey(t)
	cl := &xacme.Client{Key: key, DirectoryURL: h.dirURL, HTTPClient: h.ts.Client()}
	if _, err := cl.Register(ctx, &xacme.Account{
		ExternalAccountBinding: &xacme.ExternalAccountBinding{KID: dev.eabKID, Key: dev.eabKey},
	}, xacme.AcceptTOS); err != nil {
		t.Fatalf("register: %v", err)
	}
	if err := cl.DeactivateReg(ctx); err != nil {
		t.Fatalf("deactivate: %v", err)
	}
	_, err := cl.AuthorizeOrder(ctx, xacme.DomainIDs(dev.name("")))
	var ae *xacme.Error
	if !errors.As(err, &ae) || ae.ProblemType != problem.URNPrefix+string(problem.Unauthorized) {
		t.Errorf("order after deactivation: %v", err)
	}
	raw := h.client(key)
	res, err := raw.Register(ctx, dev.eabKID, dev.eabKey)
	wantProblem(t, res, err, problem.Unauthorized, http.StatusUnauthorized)
}

func TestNewAccountWithExistingKey(t *testing.T) {
	h := newHarness(t)
	ctx := h.ctx
	dev := h.newDevice("")
	c := h.client(nil)

	// onlyReturnExisting for a key without an account.
	res, err := c.Do(ctx, acmetest.Request{URL: c.Dir.NewAccount, JWK: true, Payload: map[string]bool{"onlyReturnExisting": true}})
	wantProblem(t, res, err, problem.AccountDoesNotExist, http.StatusBadRequest)

	res, err = c.Register(ctx, dev.eabKID, dev.eabKey)
	if err != nil || res.Status != http.StatusCreated || res.Location() == "" {
		t.Fatalf("register: %v %v", res, err)
	}
	first := res.Location()
	var acct struct {
		Status, Orders string
	}
	if err := res.Decode(&acct); err != nil || acct.Status != "valid" || acct.Orders != first+"/orders" {
		t.Errorf("account = %+v %v", acct, err)
	}

	// The same key again, with a second EAB key: 200, same account, and
	// the second EAB key stays unused.
	kid2, key2 := h.newEAB(dev.ID)
	res, err = c.Register(ctx, kid2, key2)
	if err != nil || res.Status != http.StatusOK || res.Location() != first {
		t.Fatalf("register again: %v %v (Location %q, want %q)", res, err, res.Location(), first)
	}
	if k, err := h.store.GetEABKey(ctx, kid2); err != nil || !k.UsedAt.IsZero() || k.AccountID != "" {
		t.Errorf("second EAB key was consumed: %+v %v", k, err)
	}

	// onlyReturnExisting finds it without any EAB.
	res, err = c.Do(ctx, acmetest.Request{URL: c.Dir.NewAccount, JWK: true, Payload: map[string]bool{"onlyReturnExisting": true}})
	if err != nil || res.Status != http.StatusOK || res.Location() != first {
		t.Fatalf("onlyReturnExisting: %v %v", res, err)
	}

	// The first EAB key is bound to the account.
	if k, err := h.store.GetEABKey(ctx, dev.eabKID); err != nil || k.AccountID == "" || first != h.ts.URL+"/acme/account/"+k.AccountID {
		t.Errorf("first EAB key = %+v %v", k, err)
	}
}

// TestNewAccountRepeatedEAB registers one key with one EAB key from several
// clients at once, as Caddy does on empty storage (one registration per
// site name): every one gets the same account, one of them 201 and the
// rest 200. The same EAB key with another account key is unauthorized.
func TestNewAccountRepeatedEAB(t *testing.T) {
	h := newHarness(t)
	dev := h.newDevice("")
	key := newKey(t)
	const clients = 4
	results := make(chan *acmetest.Response, clients)
	errs := make(chan error, clients)
	for range clients {
		c := h.client(key)
		go func() {
			res, err := c.Register(h.ctx, dev.eabKID, dev.eabKey)
			results <- res
			errs <- err
		}()
	}
	created, location := 0, ""
	for range clients {
		res, err := <-results, <-errs
		if err != nil || (res.Status != http.StatusCreated && res.Status != http.StatusOK) {
			t.Fatalf("register: %v %v", res, err)
		}
		if res.Status == http.StatusCreated {
			created++
		}
		if location == "" {
			location = res.Location()
		}
		if res.Location() != location {
			t.Errorf("accounts %s and %s for one key", res.Location(), location)
		}
	}
	if created != 1 {
		t.Errorf("%d registrations answered 201, want 1", created)
	}

	res, err := h.client(nil).Register(h.ctx, dev.eabKID, dev.eabKey)
	wantProblem(t, res, err, problem.Unauthorized, http.StatusUnauthorized)
	if p := res.Problem(); !strings.Contains(p.Detail, "another key") {
		t.Errorf("detail %q does not say the EAB key registered another key", p.Detail)
	}
}

func TestAccountContact(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dev := h.newDevice("")
	cl := &xacme.Client{Key: newKey(t), DirectoryURL: h.dirURL, HTTPClient: h.ts.Client()}
	if _, err := cl.Register(ctx, &xacme.Account{
		Contact:                []string{"mailto:a@example.test"},
		ExternalAccountBinding: &xacme.ExternalAccountBinding{KID: dev.eabKID, Key: dev.eabKey},
	}, xacme.AcceptTOS); err != nil {
		t.Fatalf("register: %v", err)
	}
	got, err := cl.UpdateReg(ctx, &xacme.Account{Contact: []string{"mailto:b@example.test"}})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if len(got.Contact) != 1 || got.Contact[0] != "mailto:b@example.test" {
		t.Errorf("contact = %v", got.Contact)
	}
	got, err = cl.GetReg(ctx, "")
	if err != nil || len(got.Contact) != 1 || got.Contact[0] != "mailto:b@example.test" {
		t.Errorf("GetReg = %+v %v", got, err)
	}
}

func TestOrderListPagination(t *testing.T) {
	h := newHarness(t)
	h.srv.SetOrdersPerPage(2)
	dev := h.newDevice("")
	c := h.account(dev)
	var want []string
	for range 5 {
		want = append(want, h.newOrder(c, map[string]any{"identifiers": dnsIDs(dev.name(""))}).URL)
	}
	var got []string
	next, pages := c.KID+"/orders", 0
	for next != "" {
		res, err := c.Post(h.ctx, next, nil)
		if err != nil || res.Status != http.StatusOK {
			t.Fatalf("list %s: %v %v", next, res, err)
		}
		var list struct{ Orders []string }
		if err := res.Decode(&list); err != nil {
			t.Fatal(err)
		}
		got = append(got, list.Orders...)
		pages++
		next = linkRel(res.Header, "next")
	}
	if pages != 3 || len(got) != len(want) {
		t.Fatalf("%d pages with %v, want 3 pages with %v", pages, got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("order %d = %s, want %s", i, got[i], want[i])
		}
	}
	// Another account may not list them.
	other := h.account(dev)
	res, err := other.Post(h.ctx, c.KID+"/orders", nil)
	wantProblem(t, res, err, problem.Unauthorized, http.StatusUnauthorized)
}

// wantProblem fails the test unless res is a problem of kind with status.
func wantProblem(t *testing.T, res *acmetest.Response, err error, kind problem.Kind, status int) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	p := res.Problem()
	if p == nil || p.Type != problem.URNPrefix+string(kind) || res.Status != status {
		t.Fatalf("got %v, want %d %s", res, status, kind)
	}
}

// linkRel returns the target of the Link header with rel, or "".
func linkRel(h http.Header, rel string) string {
	for _, l := range h.Values("Link") {
		target, params, ok := cutLink(l)
		if ok && params == `rel="`+rel+`"` {
			return target
		}
	}
	return ""
}

func cutLink(l string) (target, params string, ok bool) {
	rest, found := strings.CutPrefix(l, "<")
	if !found {
		return "", "", false
	}
	return strings.Cut(rest, ">;")
}

// TestNewAccountProblems sends the bad requests of newAccount (RFC 8555
// sections 7.3 and 7.3.4): external account bindings that are missing,
// wrong, used or for another key, and contacts; each gets its problem type,
// HTTP status and the headers every ACME response carries.
func TestNewAccountProblems(t *testing.T) {
	fx := newProblemFixture(t)
	runProblemCases(t, fx, []problemCase{
		{
			name: "missing EAB",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				n := fx.h.client(nil)
				return must(n.Do(fx.ctx, acmetest.Request{URL: n.Dir.NewAccount, JWK: true, Payload: map[string]any{"termsOfServiceAgreed": true}}))
			},
			kind: problem.ExternalAccountRequired, status: 400,
		},
		{
			name: "wrong EAB MAC",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				d := fx.h.newDevice("")
				wrong := append([]byte(nil), d.eabKey...)
				wrong[0] ^= 1
				return must(fx.h.client(nil).Register(fx.ctx, d.eabKID, wrong))
			},
			kind: problem.Unauthorized, status: 401,
		},
		{
			name: "reused EAB",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				return must(fx.h.client(nil).Register(fx.ctx, fx.dev.eabKID, fx.dev.eabKey))
			},
			kind: problem.Unauthorized, status: 401,
			check: func(t *testing.T, fx *problemFixture, res *acmetest.Response, p *acmetest.Problem) {
				if !strings.Contains(p.Detail, "already used") {
					t.Errorf("detail = %q", p.Detail)
				}
			},
		},
		{
			name: "unknown EAB kid",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				return must(fx.h.client(nil).Register(fx.ctx, "no-such-kid", fx.dev.eabKey))
			},
			kind: problem.Unauthorized, status: 401,
		},
		{
			name: "EAB binds another key",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				d := fx.h.newDevice("")
				eab, err := fx.h.client(nil).Binding(d.eabKID, d.eabKey, "")
				if err != nil {
					t.Fatal(err)
				}
				n := fx.h.client(nil)
				return must(n.Do(fx.ctx, acmetest.Request{URL: n.Dir.NewAccount, JWK: true, Payload: map[string]any{"externalAccountBinding": eab}}))
			},
			kind: problem.Unauthorized, status: 401,
		},
		{
			name: "device paired with another key",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				d := fx.h.newDevice(acmetest.Thumbprint(newKey(t).Public()))
				return must(fx.h.client(nil).Register(fx.ctx, d.eabKID, d.eabKey))
			},
			kind: problem.Unauthorized, status: 401,
			check: func(t *testing.T, fx *problemFixture, res *acmetest.Response, p *acmetest.Problem) {
				if p.Detail != "this device was paired with a different key" {
					t.Errorf("detail = %q", p.Detail)
				}
			},
		},
		{
			name: "unsupported contact",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				d := fx.h.newDevice("")
				n := fx.h.client(nil)
				eab, _ := n.Binding(d.eabKID, d.eabKey, "")
				return must(n.Do(fx.ctx, acmetest.Request{URL: n.Dir.NewAccount, JWK: true, Payload: map[string]any{
					"contact": []string{"tel:+15551234567"}, "externalAccountBinding": eab,
				}}))
			},
			kind: problem.UnsupportedContact, status: 400,
		},
	})
}

// TestAccountProblems sends the bad requests of the account resource (RFC
// 8555 sections 7.3.2 and 7.3.6): bad updates, another account, a
// deactivated account; each gets its problem type, HTTP status and the
// headers every ACME response carries.
func TestAccountProblems(t *testing.T) {
	fx := newProblemFixture(t)
	runProblemCases(t, fx, []problemCase{
		{
			name: "contact with two addresses",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				return must(fx.c.Post(fx.ctx, fx.c.KID, map[string]any{"contact": []string{"mailto:a@example.test,b@example.test"}}))
			},
			kind: problem.InvalidContact, status: 400,
		},
		{
			name: "account status other than deactivated",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				return must(fx.c.Post(fx.ctx, fx.c.KID, map[string]any{"status": "revoked"}))
			},
			kind: problem.Malformed, status: 400,
		},
		{
			name: "another account's URL",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				return must(fx.c.Post(fx.ctx, fx.other.KID, nil))
			},
			kind: problem.Unauthorized, status: 401,
		},
		{
			name: "deactivated account",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				d := fx.h.account(fx.dev)
				res, err := d.Post(fx.ctx, d.KID, map[string]string{"status": "deactivated"})
				expect(t, res, err, 200)
				return must(d.Post(fx.ctx, d.Dir.NewOrder, fx.orderPayload))
			},
			kind: problem.Unauthorized, status: 401,
		},
	})
}

// TestKeyChangeProblems sends the bad requests of keyChange (RFC 8555
// section 7.3.5): a key another account uses, a wrong oldKey; each gets its
// problem type, HTTP status and the headers every ACME response carries.
func TestKeyChangeProblems(t *testing.T) {
	fx := newProblemFixture(t)
	runProblemCases(t, fx, []problemCase{
		{
			name: "keyChange to a key in use",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				inUse := fx.h.account(fx.dev)
				return must(keyChange(t, fx.c, inUse.Key))
			},
			kind: problem.Malformed, status: 409,
			check: func(t *testing.T, fx *problemFixture, res *acmetest.Response, p *acmetest.Problem) {
				if !strings.HasPrefix(res.Location(), fx.h.ts.URL+"/acme/account/") || res.Location() == fx.c.KID {
					t.Errorf("Location = %q", res.Location())
				}
			},
		},
		{
			name: "keyChange with a wrong oldKey",
			do: func(t *testing.T, fx *problemFixture) *acmetest.Response {
				newK := newKey(t)
				inner, err := acmetest.Sign(newK, "ES256", map[string]any{"jwk": acmetest.JWK(newK.Public()), "url": fx.c.Dir.KeyChange},
					mustJSON(t, map[string]any{"account": fx.c.KID, "oldKey": acmetest.JWK(newKey(t).Public())}))
				if err != nil {
					t.Fatal(err)
				}
				return must(fx.c.Post(fx.ctx, fx.c.Dir.KeyChange, inner.JSON()))
			},
			kind: problem.Malformed, status: 400,
		},
	})
}
