package issuer_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lantls/lantls/ca/local"
	"github.com/lantls/lantls/internal/testwait"
	"github.com/lantls/lantls/issuer"
	"github.com/lantls/lantls/issuer/issuertest"
	"github.com/lantls/lantls/store"
	"github.com/lantls/lantls/store/postgres"
	"github.com/lantls/lantls/store/postgres/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// Instances on one store use one CA; one with other CA files is refused
// before it signs anything.
func TestSharedStoreAgreesOnCA(t *testing.T) {
	url := pgtest.URL(t)
	caDir := t.TempDir()
	a, _ := issuertest.Start(t, issuer.Config{Store: url, CADir: caDir})
	b, _ := issuertest.Start(t, issuer.Config{Store: url, CADir: caDir})
	if string(a.RootPEM()) != string(b.RootPEM()) {
		t.Error("two instances on one store and one CA dir have different roots")
	}
	// The CA directory every instance reads holds no root key.
	ents, err := os.ReadDir(caDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if b, err := os.ReadFile(filepath.Join(caDir, e.Name())); err == nil && strings.Contains(string(b), "PRIVATE KEY") && e.Name() != local.IntermediateKeyFile {
			t.Errorf("the shared CA directory holds a key in %s", e.Name())
		}
	}
	if _, err := os.Stat(filepath.Join(caDir, local.RootKeyFile)); err == nil {
		t.Errorf("the shared CA directory holds %s", local.RootKeyFile)
	}
	_, err = issuer.New(t.Context(), issuer.Config{
		DataDir: t.TempDir(), Zone: "lan.test", Listen: "127.0.0.1:0", Signer: "local",
		Store: url, CADir: t.TempDir(),
	})
	if err == nil || !strings.Contains(err.Error(), "not the one the other issuers on this store use") {
		t.Errorf("New with another CA on the same store = %v, want a refusal that names the mismatch", err)
	}
}

// An order processing on a shared store is left alone at start-up (another
// instance may be signing it) and failed once it has been processing for
// longer than any signer may take.
func TestSharedStoreFailsOnlyStaleProcessingOrders(t *testing.T) {
	ctx := t.Context()
	url := pgtest.URL(t)
	st, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	order := processingOrder(t, st)

	caDir := t.TempDir()
	issuertest.Start(t, issuer.Config{Store: url, CADir: caDir})
	if got := orderStatus(t, st, order.ID); got != store.StatusProcessing {
		t.Fatalf("a new instance changed an order another may be signing to %s", got)
	}

	// An instance whose clock is past the limit fails it.
	later := func() time.Time { return time.Now().Add(time.Hour) }
	issuertest.Start(t, issuer.Config{Store: url, CADir: caDir, Now: later})
	testwait.For(t, 10*time.Second, "an instance to fail an order processing for an hour", func() bool {
		return orderStatus(t, st, order.ID) == store.StatusInvalid
	})
	o, _ := st.GetOrder(ctx, order.ID)
	if o.Error == nil || !strings.Contains(o.Error.Detail, "place a new order") {
		t.Errorf("failed order's error = %+v, want one that tells the client to order again", o.Error)
	}
}

func processingOrder(t *testing.T, st store.Store) *store.Order {
	t.Helper()
	ctx := context.Background()
	owner, err := st.EnsureOwner(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	d := &store.Device{Label: "l1", OwnerID: owner.ID, Status: store.StatusActive}
	if err := st.CreateDevice(ctx, d); err != nil {
		t.Fatal(err)
	}
	a := &store.Account{DeviceID: d.ID, KeyThumbprint: "t1", Status: store.StatusValid}
	if err := st.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	o := &store.Order{AccountID: a.ID, DeviceID: d.ID, Status: store.StatusProcessing, Expires: time.Now().Add(24 * time.Hour)}
	if err := st.CreateOrder(ctx, o, nil); err != nil {
		t.Fatal(err)
	}
	return o
}

func orderStatus(t *testing.T, st store.Store, id string) store.Status {
	t.Helper()
	o, err := st.GetOrder(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return o.Status
}
