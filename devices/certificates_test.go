package devices

import (
	"errors"
	"testing"
	"time"

	"github.com/lantls/lantls/store"
)

func TestRevokeCertificates(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	c, err := Add(ctx, st, "lan.test", "alice", "TV", now)
	if err != nil {
		t.Fatal(err)
	}
	acct := &store.Account{ID: store.NewID(now), DeviceID: c.Device.ID, KeyThumbprint: "thumb", KeyJWK: []byte(`{}`), Status: store.StatusValid, EABKID: c.KID, CreatedAt: now}
	if err := st.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	order := &store.Order{ID: store.NewID(now), AccountID: acct.ID, DeviceID: c.Device.ID, Status: store.StatusValid,
		Identifiers: []store.Identifier{{Type: "dns", Value: c.Names[0]}}, Profile: "default", Expires: now.Add(time.Hour), CreatedAt: now}
	if err := st.CreateOrder(ctx, order, nil); err != nil {
		t.Fatal(err)
	}
	cert := &store.Certificate{Serial: "1a", DeviceID: c.Device.ID, AccountID: acct.ID, OrderID: order.ID, Names: c.Names,
		Profile: "default", NotBefore: now, NotAfter: now.Add(time.Hour), ChainPEM: []byte("pem"), CreatedAt: now}
	if err := st.CreateCertificate(ctx, cert); err != nil {
		t.Fatal(err)
	}
	bob, err := st.EnsureOwner(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RevokeCertificates(ctx, st, Actor{OwnerID: bob.ID, Name: "bob"}, c.Device.ID, now); !errors.Is(err, ErrNotFound) {
		t.Errorf("RevokeCertificates by another owner: %v, want ErrNotFound", err)
	}
	n, err := RevokeCertificates(ctx, st, Actor{OwnerID: c.Owner.ID, Name: "alice"}, c.Device.ID, now)
	if err != nil || n != 1 {
		t.Fatalf("RevokeCertificates = %d, %v; want 1", n, err)
	}
	if got, _ := st.GetCertificate(ctx, "1a"); !got.Revoked() {
		t.Error("certificate not revoked")
	}
	if got, _ := st.GetAccount(ctx, acct.ID); got.Status != store.StatusValid {
		t.Errorf("account status = %s, want valid: the device stays paired", got.Status)
	}
	if d, _ := st.GetDevice(ctx, c.Device.ID); d.Status != store.StatusActive {
		t.Errorf("device status = %s, want active", d.Status)
	}
	es, err := st.ListAudit(ctx, store.AuditFilter{OwnerID: c.Owner.ID})
	if err != nil || len(es) != 1 || es[0].Action != AuditRevoke {
		t.Errorf("audit log = %v, %v; want one revoke entry", es, err)
	}
}
