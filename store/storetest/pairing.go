package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/lantls/lantls/store"
)

// pairingTests are the cases of the pairing stream's methods.
var pairingTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"PairingRoundTrip", testPairingRoundTrip},
	{"UpdatePairing", testUpdatePairing},
	{"ListAndDeletePairings", testListAndDeletePairings},
	{"Tokens", testTokens},
	{"Grants", testGrants},
	{"Audit", testAudit},
}

func newPairing(id string) *store.Pairing {
	return &store.Pairing{
		ID: id, DeviceCodeHash: "dc-" + id, UserCode: "BCDFGHJK", UserCodeHash: "uc-" + id,
		ClientID: "lantls-agent", Model: "TV 9000", Hostname: "tv.local",
		KeyJWK: []byte(`{"kty":"EC","crv":"P-256","x":"` + id + `"}`), KeyThumbprint: "tp-" + id,
		Label: "label-" + id, Source: "192.0.2.7", Status: store.StatusPending,
		Interval: time.Second, CreatedAt: base, Expires: base.Add(10 * time.Minute),
	}
}

func testPairingRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := newPairing("p1")
	if err := s.CreatePairing(ctx, p); err != nil {
		t.Fatalf("CreatePairing: %v", err)
	}
	want := normalized(p)
	for what, get := range map[string]func() (*store.Pairing, error){
		"GetPairing":             func() (*store.Pairing, error) { return s.GetPairing(ctx, "p1") },
		"GetPairingByDeviceCode": func() (*store.Pairing, error) { return s.GetPairingByDeviceCode(ctx, "dc-p1") },
		"GetPairingByUserCode":   func() (*store.Pairing, error) { return s.GetPairingByUserCode(ctx, "uc-p1") },
	} {
		got, err := get()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		checkTimes(t, got)
		equal(t, what, got, want)
	}
	if _, err := s.GetPairingByUserCode(ctx, "uc-none"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetPairingByUserCode(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := s.GetPairingByDeviceCode(ctx, "dc-none"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetPairingByDeviceCode(unknown) = %v, want ErrNotFound", err)
	}
	dup := newPairing("p2")
	dup.UserCodeHash = p.UserCodeHash
	if err := s.CreatePairing(ctx, dup); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreatePairing with a user code in use = %v, want ErrConflict", err)
	}
	dup = newPairing("p3")
	dup.DeviceCodeHash = p.DeviceCodeHash
	if err := s.CreatePairing(ctx, dup); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreatePairing with a device code in use = %v, want ErrConflict", err)
	}
	fill := newPairing("")
	fill.CreatedAt = time.Time{}
	if err := s.CreatePairing(ctx, fill); err != nil {
		t.Fatalf("CreatePairing without ID: %v", err)
	}
	if fill.ID == "" || fill.CreatedAt.IsZero() {
		t.Errorf("CreatePairing left ID %q, CreatedAt %v", fill.ID, fill.CreatedAt)
	}
}

func testUpdatePairing(t *testing.T, s store.Store) {
	ctx := t.Context()
	fx := newFixture(t, s, "a")
	p := newPairing("p1")
	if err := s.CreatePairing(ctx, p); err != nil {
		t.Fatalf("CreatePairing: %v", err)
	}
	p.LastPolled = base.Add(time.Second)
	p.Interval = 6 * time.Second
	if err := s.UpdatePairing(ctx, p, store.StatusPending); err != nil {
		t.Fatalf("UpdatePairing (poll): %v", err)
	}
	p.Status, p.OwnerID, p.DeviceID, p.Actor = store.StatusApproved, fx.owner.ID, fx.device.ID, "alice"
	p.DecidedAt = base.Add(2 * time.Second)
	p.Expires = p.Expires.Add(time.Minute)
	if err := s.UpdatePairing(ctx, p, store.StatusPending); err != nil {
		t.Fatalf("UpdatePairing (approve): %v", err)
	}
	got, err := s.GetPairing(ctx, p.ID)
	if err != nil {
		t.Fatalf("GetPairing: %v", err)
	}
	equal(t, "GetPairing after updates", got, normalized(p))
	// A second decision finds the status changed.
	denied := *p
	denied.Status = store.StatusDenied
	if err := s.UpdatePairing(ctx, &denied, store.StatusPending); !errors.Is(err, store.ErrConflict) {
		t.Errorf("UpdatePairing from a stale status = %v, want ErrConflict", err)
	}
	missing := newPairing("nope")
	if err := s.UpdatePairing(ctx, missing, store.StatusPending); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdatePairing of a missing pairing = %v, want ErrNotFound", err)
	}
	p.Status, p.RedeemedAt = store.StatusRedeemed, base.Add(3*time.Second)
	if err := s.UpdatePairing(ctx, p, store.StatusApproved); err != nil {
		t.Fatalf("UpdatePairing (redeem): %v", err)
	}
	got, err = s.GetPairing(ctx, p.ID)
	if err != nil {
		t.Fatalf("GetPairing: %v", err)
	}
	equal(t, "GetPairing after redeem", got, normalized(p))
}

func testListAndDeletePairings(t *testing.T, s store.Store) {
	ctx := t.Context()
	all, err := s.ListPairings(ctx, store.PairingFilter{})
	if err != nil || all == nil || len(all) != 0 {
		t.Fatalf("ListPairings on an empty store = %v, %v; want an empty, non-nil slice", all, err)
	}
	var ps []*store.Pairing
	for i, id := range []string{"p1", "p2", "p3"} {
		p := newPairing(id)
		p.CreatedAt = base.Add(time.Duration(i) * time.Minute)
		p.Expires = p.CreatedAt.Add(10 * time.Minute)
		if id == "p2" {
			p.OwnerID = "owner-b"
		}
		if err := s.CreatePairing(ctx, p); err != nil {
			t.Fatalf("CreatePairing: %v", err)
		}
		ps = append(ps, normalized(p))
	}
	all, err = s.ListPairings(ctx, store.PairingFilter{})
	if err != nil {
		t.Fatalf("ListPairings: %v", err)
	}
	equal(t, "ListPairings", all, ps)
	mine, err := s.ListPairings(ctx, store.PairingFilter{OwnerID: "owner-b"})
	if err != nil {
		t.Fatalf("ListPairings(owner): %v", err)
	}
	equal(t, "ListPairings(owner)", mine, ps[1:2])
	// p1 expires at base+10m, p2 at base+11m.
	n, err := s.DeletePairings(ctx, base.Add(11*time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("DeletePairings = %d, %v; want 1", n, err)
	}
	all, err = s.ListPairings(ctx, store.PairingFilter{})
	if err != nil {
		t.Fatalf("ListPairings: %v", err)
	}
	equal(t, "ListPairings after delete", all, ps[1:])
}

func testTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	fx := newFixture(t, s, "a")
	other := newFixture(t, s, "b")
	tok := &store.Token{ID: "t1", Hash: "h1", DeviceID: fx.device.ID, CreatedAt: base}
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	got, err := s.GetTokenByHash(ctx, "h1")
	if err != nil {
		t.Fatalf("GetTokenByHash: %v", err)
	}
	checkTimes(t, got)
	equal(t, "GetTokenByHash", got, normalized(tok))
	if !got.Valid(base) {
		t.Errorf("a fresh token without expiry is not valid")
	}
	if err := s.CreateToken(ctx, &store.Token{Hash: "h1", DeviceID: fx.device.ID}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateToken with a hash in use = %v, want ErrConflict", err)
	}
	if err := s.CreateToken(ctx, &store.Token{Hash: "h9", DeviceID: "no-device"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateToken of an unknown device = %v, want ErrNotFound", err)
	}
	second := &store.Token{Hash: "h2", DeviceID: fx.device.ID, Expires: base.Add(time.Hour)}
	if err := s.CreateToken(ctx, second); err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	if second.ID == "" || second.CreatedAt.IsZero() {
		t.Errorf("CreateToken left ID %q, CreatedAt %v", second.ID, second.CreatedAt)
	}
	if err := s.CreateToken(ctx, &store.Token{Hash: "h3", DeviceID: other.device.ID}); err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	n, err := s.RevokeDeviceTokens(ctx, fx.device.ID, base.Add(time.Minute))
	if err != nil || n != 2 {
		t.Fatalf("RevokeDeviceTokens = %d, %v; want 2", n, err)
	}
	if n, err := s.RevokeDeviceTokens(ctx, fx.device.ID, time.Time{}); err != nil || n != 0 {
		t.Errorf("RevokeDeviceTokens again = %d, %v; want 0", n, err)
	}
	got, err = s.GetTokenByHash(ctx, "h1")
	if err != nil {
		t.Fatalf("GetTokenByHash: %v", err)
	}
	if !got.RevokedAt.Equal(normTime(base.Add(time.Minute))) || got.Valid(base) {
		t.Errorf("revoked token = %+v, want RevokedAt %v and not valid", got, base.Add(time.Minute))
	}
	if got, err := s.GetTokenByHash(ctx, "h3"); err != nil || !got.Valid(base) {
		t.Errorf("other device's token = %+v, %v; want it valid", got, err)
	}
	if _, err := s.GetTokenByHash(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetTokenByHash(unknown) = %v, want ErrNotFound", err)
	}
}

func testGrants(t *testing.T, s store.Store) {
	ctx := t.Context()
	fx := newFixture(t, s, "a")
	g, err := s.GetGrants(ctx, fx.device.ID)
	if err != nil {
		t.Fatalf("GetGrants before any: %v", err)
	}
	equal(t, "GetGrants before any", g, &store.Grants{DeviceID: fx.device.ID, Origins: []string{}})
	set := &store.Grants{DeviceID: fx.device.ID, Origins: []string{"https://app.vendor.example", "https://b.example:8443"}, UpdatedAt: base}
	if err := s.SetGrants(ctx, set); err != nil {
		t.Fatalf("SetGrants: %v", err)
	}
	g, err = s.GetGrants(ctx, fx.device.ID)
	if err != nil {
		t.Fatalf("GetGrants: %v", err)
	}
	equal(t, "GetGrants", g, normalized(set))
	empty := &store.Grants{DeviceID: fx.device.ID, Origins: nil}
	if err := s.SetGrants(ctx, empty); err != nil {
		t.Fatalf("SetGrants(none): %v", err)
	}
	if empty.UpdatedAt.IsZero() {
		t.Error("SetGrants left UpdatedAt zero")
	}
	g, err = s.GetGrants(ctx, fx.device.ID)
	if err != nil {
		t.Fatalf("GetGrants: %v", err)
	}
	if g.Origins == nil || len(g.Origins) != 0 {
		t.Errorf("GetGrants after clearing = %#v, want an empty, non-nil list", g.Origins)
	}
	if err := s.SetGrants(ctx, &store.Grants{DeviceID: "no-device", Origins: []string{}}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetGrants of an unknown device = %v, want ErrNotFound", err)
	}
}

func testAudit(t *testing.T, s store.Store) {
	ctx := t.Context()
	es, err := s.ListAudit(ctx, store.AuditFilter{})
	if err != nil || es == nil || len(es) != 0 {
		t.Fatalf("ListAudit on an empty store = %v, %v; want an empty, non-nil slice", es, err)
	}
	var all []*store.AuditEntry
	for i := range 5 {
		owner := "owner-a"
		if i%2 == 1 {
			owner = "owner-b"
		}
		e := &store.AuditEntry{ID: "e" + string(rune('0'+i)), OwnerID: owner, Actor: "alice", Action: "approve",
			DeviceID: "dev", Detail: "detail", CreatedAt: base.Add(time.Duration(i) * time.Second)}
		if err := s.AddAudit(ctx, e); err != nil {
			t.Fatalf("AddAudit: %v", err)
		}
		all = append([]*store.AuditEntry{normalized(e)}, all...) // newest first
	}
	es, err = s.ListAudit(ctx, store.AuditFilter{})
	if err != nil {
		t.Fatalf("ListAudit: %v", err)
	}
	equal(t, "ListAudit", es, all)
	es, err = s.ListAudit(ctx, store.AuditFilter{Limit: 2})
	if err != nil {
		t.Fatalf("ListAudit(limit 2): %v", err)
	}
	equal(t, "ListAudit(limit 2)", es, all[:2])
	es, err = s.ListAudit(ctx, store.AuditFilter{Before: all[1].ID, Limit: 2})
	if err != nil {
		t.Fatalf("ListAudit(before): %v", err)
	}
	equal(t, "ListAudit(before)", es, all[2:4])
	es, err = s.ListAudit(ctx, store.AuditFilter{OwnerID: "owner-a"})
	if err != nil {
		t.Fatalf("ListAudit(owner): %v", err)
	}
	equal(t, "ListAudit(owner)", es, []*store.AuditEntry{all[0], all[2], all[4]})
	es, err = s.ListAudit(ctx, store.AuditFilter{OwnerID: "owner-a", Before: all[0].ID})
	if err != nil {
		t.Fatalf("ListAudit(owner, before): %v", err)
	}
	equal(t, "ListAudit(owner, before)", es, []*store.AuditEntry{all[2], all[4]})
	fill := &store.AuditEntry{OwnerID: "owner-a", Action: "login"}
	if err := s.AddAudit(ctx, fill); err != nil {
		t.Fatalf("AddAudit: %v", err)
	}
	if fill.ID == "" || fill.CreatedAt.IsZero() {
		t.Errorf("AddAudit left ID %q, CreatedAt %v", fill.ID, fill.CreatedAt)
	}
}
