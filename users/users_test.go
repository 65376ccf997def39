package users

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lantls/lantls/store"
	"github.com/lantls/lantls/store/sqlite"
)

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "lantls.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestHashPassword(t *testing.T) {
	h := HashPassword("correct horse battery", DefaultParams)
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q is not in PHC form with the default parameters", h)
	}
	if h2 := HashPassword("correct horse battery", DefaultParams); h2 == h {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	for _, tt := range []struct {
		password string
		want     bool
	}{
		{"correct horse battery", true},
		{"correct horse batter", false},
		{"", false},
	} {
		ok, err := CheckPassword(h, tt.password)
		if err != nil || ok != tt.want {
			t.Errorf("CheckPassword(%q) = %v, %v; want %v", tt.password, ok, err, tt.want)
		}
	}
}

// A hash made by the reference implementation (libargon2's
// argon2id_hash_encoded(2, 65536, 4, "password", "somesalt", 24)) checks.
func TestCheckPasswordReference(t *testing.T) {
	const ref = "$argon2id$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$F1jG2CV3/Nr+yRuIsPKw0J9r4s7cJHBU"
	ok, err := CheckPassword(ref, "password")
	if err != nil || !ok {
		t.Errorf("CheckPassword(reference hash) = %v, %v; want true", ok, err)
	}
}

func TestCheckPasswordMalformed(t *testing.T) {
	for _, h := range []string{
		"",
		"$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
		"$argon2id$v=16$m=65536,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
		"$argon2id$v=19$m=99999999,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
		"$argon2id$v=19$m=65536,t=0,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
		"$argon2id$v=19$m=65536,t=2,p=0$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
		"$argon2id$v=19$m=65536,t=2$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
		"$argon2id$v=19$m=65536,t=2,p=4$$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
		"$argon2id$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$",
	} {
		if _, err := CheckPassword(h, "password"); !errors.Is(err, ErrMalformedHash) {
			t.Errorf("CheckPassword(%q) = %v, want ErrMalformedHash", h, err)
		}
	}
}

func FuzzCheckPassword(f *testing.F) {
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG", "password")
	f.Add("$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA", "")
	f.Fuzz(func(t *testing.T, hash, password string) {
		p, _, _, err := parseHash(hash)
		if err != nil {
			return
		}
		if p.Memory > 4096 || p.Time > 2 {
			return // valid but slow: the bounds are checked in parseHash
		}
		CheckPassword(hash, password)
	})
}

func TestAddAndAuthenticate(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	u, err := Add(ctx, st, "alice", store.RoleOwner, "correct horse battery")
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	o, err := st.GetOwnerByName(ctx, "alice")
	if err != nil || o.ID != u.OwnerID {
		t.Fatalf("user's owner = %v, %v; want the owner alice", o, err)
	}
	if _, err := Add(ctx, st, "alice", store.RoleAdmin, "another long password"); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Errorf("Add of a second alice = %v, want 'exists already'", err)
	}
	if _, err := Add(ctx, st, "bob", store.RoleOwner, "short"); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Errorf("Add with a short password = %v, want 'too short'", err)
	}
	if _, err := Add(ctx, st, "b ob", store.RoleOwner, "correct horse battery"); err == nil {
		t.Error("Add of a name with a space succeeded")
	}

	got, err := Authenticate(ctx, st, "alice", "correct horse battery")
	if err != nil || got.ID != u.ID {
		t.Fatalf("Authenticate = %v, %v; want alice", got, err)
	}
	for _, tt := range []struct{ name, password string }{
		{"alice", "wrong password here"},
		{"nobody", "correct horse battery"},
		{"alice", strings.Repeat("x", 2000)},
	} {
		if _, err := Authenticate(ctx, st, tt.name, tt.password); !errors.Is(err, ErrBadLogin) {
			t.Errorf("Authenticate(%q, %q) = %v, want ErrBadLogin", tt.name, tt.password[:min(len(tt.password), 20)], err)
		}
	}
}

func TestSetPasswordEndsSessionsAndPasskeys(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	u, err := Add(ctx, st, "alice", store.RoleAdmin, "correct horse battery")
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	if err := st.CreateSession(ctx, &store.Session{ID: "s1", UserID: u.ID, Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	if err := st.CreatePasskey(ctx, &store.Passkey{ID: []byte{1}, UserID: u.ID, Name: "planted", Data: []byte("{}")}); err != nil {
		t.Fatalf("CreatePasskey: %v", err)
	}
	if err := SetPassword(ctx, st, "alice", "a brand new password"); err != nil {
		t.Fatalf("SetPassword: %v", err)
	}
	if _, err := st.GetSession(ctx, "s1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session after SetPassword: %v, want ErrNotFound", err)
	}
	if keys, err := st.ListPasskeys(ctx, u.ID); err != nil || len(keys) != 0 {
		t.Errorf("passkeys after SetPassword: %v, %v; want none", keys, err)
	}
	if _, err := Authenticate(ctx, st, "alice", "correct horse battery"); !errors.Is(err, ErrBadLogin) {
		t.Errorf("old password after SetPassword: %v, want ErrBadLogin", err)
	}
	if _, err := Authenticate(ctx, st, "alice", "a brand new password"); err != nil {
		t.Errorf("new password after SetPassword: %v", err)
	}
	if err := SetPassword(ctx, st, "nobody", "a brand new password"); err == nil || !strings.Contains(err.Error(), "no user named") {
		t.Errorf("SetPassword of a missing user = %v, want 'no user named'", err)
	}
}

func TestDisableEnableDelete(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	const pw = "correct horse battery"
	u, err := Add(ctx, st, "alice", store.RoleOwner, pw)
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	if err := st.CreateSession(ctx, &store.Session{ID: "s1", UserID: u.ID, Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	if changed, err := SetDisabled(ctx, st, "alice", true); err != nil || !changed {
		t.Fatalf("disable = %v, %v", changed, err)
	}
	if changed, err := SetDisabled(ctx, st, "alice", true); err != nil || changed {
		t.Errorf("disable again = %v, %v; want no change", changed, err)
	}
	if _, err := st.GetSession(ctx, "s1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session after disable: %v, want ErrNotFound", err)
	}
	if _, err := Authenticate(ctx, st, "alice", pw); !errors.Is(err, ErrBadLogin) {
		t.Errorf("login of a disabled user = %v, want ErrBadLogin", err)
	}
	// A new password does not enable the user.
	if err := SetPassword(ctx, st, "alice", "another long password"); err != nil {
		t.Fatal(err)
	}
	if _, err := Authenticate(ctx, st, "alice", "another long password"); !errors.Is(err, ErrBadLogin) {
		t.Errorf("login of a disabled user after passwd = %v, want ErrBadLogin", err)
	}
	if changed, err := SetDisabled(ctx, st, "alice", false); err != nil || !changed {
		t.Fatalf("enable = %v, %v", changed, err)
	}
	if _, err := Authenticate(ctx, st, "alice", "another long password"); err != nil {
		t.Errorf("login after enable = %v", err)
	}
	if _, err := SetDisabled(ctx, st, "nobody", true); err == nil || !strings.Contains(err.Error(), "no user named") {
		t.Errorf("disable of a missing user = %v", err)
	}
	if err := Delete(ctx, st, "alice"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := st.GetUserByName(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("user after Delete: %v", err)
	}
	if _, err := st.GetOwner(ctx, u.OwnerID); err != nil {
		t.Errorf("owner after Delete: %v, want kept", err)
	}
	if err := Delete(ctx, st, "alice"); err == nil || !strings.Contains(err.Error(), "no user named") {
		t.Errorf("Delete of a missing user = %v", err)
	}
}
