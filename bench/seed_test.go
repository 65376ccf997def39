package bench

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/lantls/lantls/store"
)

func TestSeedDevicesIssue(t *testing.T) {
	iss, roots := startIssuer(t)
	ctx := context.Background()
	var creds bytes.Buffer
	var progress []int
	n, err := Seed(ctx, iss.Store(), SeedOptions{
		Devices: 12, Batch: 5, Zone: iss.Info().Zone, Credentials: &creds,
		Progress: func(done int) { progress = append(progress, done) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 12 || len(progress) != 3 || progress[2] != 12 {
		t.Fatalf("seeded %d with progress %v; want 12 in batches of 5", n, progress)
	}
	owner, err := iss.Store().GetOwnerByName(ctx, "bench")
	if err != nil {
		t.Fatal(err)
	}
	devs, err := iss.Store().ListDevices(ctx, store.DeviceFilter{OwnerID: owner.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 12 || devs[0].Status != store.StatusActive || devs[0].Name != "seed 1" {
		t.Fatalf("store holds %d devices, first %+v", len(devs), devs[0])
	}

	// The credentials work as `device add --json` output does.
	loaded, err := ReadDevices(&creds, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	res, err := IssueLoad(ctx, Options{Directory: iss.Info().Directory, Devices: loaded, N: 4, Concurrency: 2, RootCAs: roots, Duration: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Issued != 4 || res.Failed != 0 {
		t.Errorf("issued %d, failed %d with seeded devices: %v", res.Issued, res.Failed, res.ErrorSamples)
	}
}

func TestSeedStopsWithContext(t *testing.T) {
	iss, _ := startIssuer(t)
	ctx, cancel := context.WithCancel(context.Background())
	n, err := Seed(ctx, iss.Store(), SeedOptions{Devices: 100, Batch: 10, Progress: func(int) { cancel() }})
	if err == nil || n != 10 {
		t.Errorf("Seed = %d, %v; want 10 and an error after the first batch", n, err)
	}
}
