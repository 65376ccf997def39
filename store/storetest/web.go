package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/lantls/lantls/store"
)

func testUsers(t *testing.T, s store.Store) {
	ctx := t.Context()
	o := mustOwner(t, s, "alice")
	u := &store.User{Name: "alice", OwnerID: o.ID, Role: store.RoleOwner, PasswordHash: "$argon2id$v=19$x", CreatedAt: base}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if u.ID == "" {
		t.Fatal("CreateUser left the ID empty")
	}
	want := normalized(u)
	got, err := s.GetUser(ctx, u.ID)
	if err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	equal(t, "GetUser", got, want)
	checkTimes(t, got)
	got, err = s.GetUserByName(ctx, "alice")
	if err != nil {
		t.Fatalf("GetUserByName: %v", err)
	}
	equal(t, "GetUserByName", got, want)

	dup := &store.User{Name: "alice", OwnerID: o.ID, Role: store.RoleOwner}
	if err := s.CreateUser(ctx, dup); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateUser with a name in use = %v, want ErrConflict", err)
	}
	orphan := &store.User{Name: "nobody", OwnerID: "no-such-owner", Role: store.RoleOwner}
	if err := s.CreateUser(ctx, orphan); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateUser of an unknown owner = %v, want ErrNotFound", err)
	}
	if _, err := s.GetUserByName(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUserByName of a missing user = %v, want ErrNotFound", err)
	}

	u.Role, u.PasswordHash = store.RoleAdmin, "$argon2id$v=19$y"
	if err := s.UpdateUser(ctx, u); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	got, err = s.GetUser(ctx, u.ID)
	if err != nil {
		t.Fatalf("GetUser after update: %v", err)
	}
	equal(t, "GetUser after update", got, normalized(u))
	if err := s.UpdateUser(ctx, &store.User{ID: "missing", Role: store.RoleOwner}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateUser of a missing user = %v, want ErrNotFound", err)
	}

	bob := &store.User{Name: "bob", OwnerID: mustOwner(t, s, "bob").ID, Role: store.RoleOwner, CreatedAt: base.Add(time.Second)}
	if err := s.CreateUser(ctx, bob); err != nil {
		t.Fatalf("CreateUser bob: %v", err)
	}
	all, err := s.ListUsers(ctx)
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	equal(t, "ListUsers", all, []*store.User{normalized(u), normalized(bob)})
}

func testSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	o := mustOwner(t, s, "alice")
	u := &store.User{Name: "alice", OwnerID: o.ID, Role: store.RoleOwner}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if _, err := s.GetSession(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSession of a missing session = %v, want ErrNotFound", err)
	}
	live := &store.Session{ID: "live", UserID: u.ID, CreatedAt: base, Expires: base.Add(time.Hour)}
	old := &store.Session{ID: "old", UserID: u.ID, CreatedAt: base, Expires: base.Add(time.Minute)}
	for _, se := range []*store.Session{live, old} {
		if err := s.CreateSession(ctx, se); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}
	if err := s.CreateSession(ctx, &store.Session{ID: "live", UserID: u.ID, Expires: base}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateSession with an ID in use = %v, want ErrConflict", err)
	}
	got, err := s.GetSession(ctx, "live")
	if err != nil {
		t.Fatalf("GetSession: %v", err)
	}
	equal(t, "GetSession", got, normalized(live))
	checkTimes(t, got)

	if err := s.DeleteSession(ctx, "old"); err != nil {
		t.Fatalf("DeleteSession: %v", err)
	}
	if err := s.DeleteSession(ctx, "old"); err != nil {
		t.Errorf("DeleteSession of a missing session = %v, want nil", err)
	}
	if _, err := s.GetSession(ctx, "old"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSession after delete = %v, want ErrNotFound", err)
	}

	// DeleteSessions takes a user's sessions and everyone's expired ones.
	bob := &store.User{Name: "bob", OwnerID: o.ID, Role: store.RoleOwner}
	if err := s.CreateUser(ctx, bob); err != nil {
		t.Fatalf("CreateUser bob: %v", err)
	}
	for _, se := range []*store.Session{
		{ID: "bob-live", UserID: bob.ID, Expires: base.Add(time.Hour)},
		{ID: "bob-expired", UserID: bob.ID, Expires: base.Add(-time.Hour)},
	} {
		if err := s.CreateSession(ctx, se); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}
	n, err := s.DeleteSessions(ctx, u.ID, base)
	if err != nil {
		t.Fatalf("DeleteSessions: %v", err)
	}
	if n != 2 {
		t.Errorf("DeleteSessions removed %d, want 2 (alice's live one, bob's expired one)", n)
	}
	for id, want := range map[string]error{"live": store.ErrNotFound, "bob-expired": store.ErrNotFound, "bob-live": nil} {
		if _, err := s.GetSession(ctx, id); !errors.Is(err, want) {
			t.Errorf("GetSession(%s) after DeleteSessions = %v, want %v", id, err, want)
		}
	}
}

func testPasskeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	o := mustOwner(t, s, "alice")
	u := &store.User{Name: "alice", OwnerID: o.ID, Role: store.RoleOwner}
	bob := &store.User{Name: "bob", OwnerID: o.ID, Role: store.RoleOwner}
	for _, x := range []*store.User{u, bob} {
		if err := s.CreateUser(ctx, x); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
	}
	empty, err := s.ListPasskeys(ctx, u.ID)
	if err != nil || empty == nil || len(empty) != 0 {
		t.Fatalf("ListPasskeys of none = %v, %v; want an empty, non-nil slice", empty, err)
	}
	p1 := &store.Passkey{ID: []byte{1, 2, 3}, UserID: u.ID, Name: "laptop", Data: []byte(`{"a":1}`), CreatedAt: base}
	p2 := &store.Passkey{ID: []byte{4, 5}, UserID: u.ID, Name: "phone", Data: []byte(`{"a":2}`), CreatedAt: base.Add(time.Second)}
	for _, p := range []*store.Passkey{p1, p2} {
		if err := s.CreatePasskey(ctx, p); err != nil {
			t.Fatalf("CreatePasskey: %v", err)
		}
	}
	if err := s.CreatePasskey(ctx, &store.Passkey{ID: []byte{1, 2, 3}, UserID: bob.ID, Data: []byte("x")}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreatePasskey with a credential ID in use = %v, want ErrConflict", err)
	}
	got, err := s.ListPasskeys(ctx, u.ID)
	if err != nil {
		t.Fatalf("ListPasskeys: %v", err)
	}
	equal(t, "ListPasskeys", got, []*store.Passkey{normalized(p1), normalized(p2)})

	p1.Data, p1.LastUsedAt = []byte(`{"a":3}`), base.Add(time.Hour)
	if err := s.UpdatePasskey(ctx, p1); err != nil {
		t.Fatalf("UpdatePasskey: %v", err)
	}
	got, err = s.ListPasskeys(ctx, u.ID)
	if err != nil {
		t.Fatalf("ListPasskeys after update: %v", err)
	}
	equal(t, "ListPasskeys after update", got, []*store.Passkey{normalized(p1), normalized(p2)})
	if err := s.UpdatePasskey(ctx, &store.Passkey{ID: []byte{9}}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdatePasskey of a missing passkey = %v, want ErrNotFound", err)
	}

	// Only the owner of a passkey removes it.
	if err := s.DeletePasskey(ctx, bob.ID, p1.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeletePasskey of another user's passkey = %v, want ErrNotFound", err)
	}
	if err := s.DeletePasskey(ctx, u.ID, p1.ID); err != nil {
		t.Fatalf("DeletePasskey: %v", err)
	}
	got, err = s.ListPasskeys(ctx, u.ID)
	if err != nil {
		t.Fatalf("ListPasskeys after delete: %v", err)
	}
	equal(t, "ListPasskeys after delete", got, []*store.Passkey{normalized(p2)})

	// Deleting a user takes its sessions and passkeys along, and no one
	// else's.
	if err := s.CreateSession(ctx, &store.Session{ID: "alice-s", UserID: u.ID, Expires: base.Add(time.Hour)}); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	p3 := &store.Passkey{ID: []byte{7}, UserID: bob.ID, Name: "bob's", Data: []byte(`{}`), CreatedAt: base}
	if err := s.CreatePasskey(ctx, p3); err != nil {
		t.Fatalf("CreatePasskey: %v", err)
	}
	if err := s.DeleteUser(ctx, u.ID); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if _, err := s.GetUser(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUser after DeleteUser = %v, want ErrNotFound", err)
	}
	if _, err := s.GetSession(ctx, "alice-s"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSession of a deleted user = %v, want ErrNotFound", err)
	}
	if got, err := s.ListPasskeys(ctx, u.ID); err != nil || len(got) != 0 {
		t.Errorf("ListPasskeys of a deleted user = %v, %v; want none", got, err)
	}
	got, err = s.ListPasskeys(ctx, bob.ID)
	if err != nil {
		t.Fatalf("ListPasskeys: %v", err)
	}
	equal(t, "bob's passkeys after alice is deleted", got, []*store.Passkey{normalized(p3)})
	if _, err := s.GetOwner(ctx, o.ID); err != nil {
		t.Errorf("GetOwner after DeleteUser = %v, want the owner kept", err)
	}
	if err := s.DeleteUser(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteUser of a missing user = %v, want ErrNotFound", err)
	}
}
