package devices

import (
	"strings"
	"testing"

	"github.com/lantls/lantls/store"
)

// TestSetGrants: origins are stored normalized (lowercase, default port
// dropped, once each); anything but an https origin is refused.
func TestSetGrants(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	alice, _ := st.EnsureOwner(ctx, "alice")
	tv := &store.Device{Label: "label-tv", OwnerID: alice.ID, Name: "TV", Status: store.StatusActive}
	if err := st.CreateDevice(ctx, tv); err != nil {
		t.Fatal(err)
	}
	asAlice := Actor{OwnerID: alice.ID, Name: "alice"}
	got, err := SetGrants(ctx, st, asAlice, tv.ID, []string{"https://App.Vendor.example:443/", "https://b.example:8443", "https://app.vendor.example"})
	if err != nil {
		t.Fatalf("SetGrants: %v", err)
	}
	if strings.Join(got, " ") != "https://app.vendor.example https://b.example:8443" {
		t.Errorf("SetGrants stored %q", got)
	}
	for _, bad := range []string{"http://app.example", "https://app.example/path", "app.example", "https://u@app.example"} {
		if _, err := SetGrants(ctx, st, asAlice, tv.ID, []string{bad}); err == nil {
			t.Errorf("SetGrants(%q) succeeded", bad)
		}
	}
	if g, err := st.GetGrants(ctx, tv.ID); err != nil || len(g.Origins) != 2 {
		t.Errorf("grants after refused calls: %+v, %v", g, err)
	}
}
