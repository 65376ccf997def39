package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/store"
)

// SeedOptions configure Seed.
type SeedOptions struct {
	// Devices is how many devices to create.
	Devices int
	// Owner owns them (created if missing); default "bench".
	Owner string
	// Name prefixes the display names: "seed 1", "seed 2", ...; default
	// "seed".
	Name string
	// Zone names the devices in Credentials; default "lan.test".
	Zone string
	// Batch is how many devices one transaction creates; default 5,000.
	Batch int
	// Now is the first device's creation time (each next one is a
	// microsecond later, so that lists show them in order); zero means
	// time.Now.
	Now time.Time
	// Credentials, if set, receives one JSON line per device in the form of
	// `lantls admin device add --json` (eab_kid, eab_hmac_key, names), for
	// `lantls-bench issue --eab-file`.
	Credentials io.Writer
	// Progress, if set, is called after each committed batch with the
	// number of devices created so far.
	Progress func(done int)
}

// Seed creates o.Devices active devices, each with one unused EAB key, as
// devices.Add makes them, but many per transaction, so that a store can be
// filled with a million devices in minutes. It returns how many it created;
// those of committed batches stay when it fails or ctx ends.
func Seed(ctx context.Context, st store.Store, o SeedOptions) (int, error) {
	if o.Devices < 0 {
		return 0, errors.New("seed: negative device count")
	}
	if o.Owner == "" {
		o.Owner = "bench"
	}
	if o.Name == "" {
		o.Name = "seed"
	}
	if o.Zone == "" {
		o.Zone = "lan.test"
	}
	if o.Batch <= 0 {
		o.Batch = 5000
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	o.Now = o.Now.UTC().Truncate(time.Microsecond)
	owner, err := st.EnsureOwner(ctx, o.Owner)
	if err != nil {
		return 0, fmt.Errorf("seed: %w", err)
	}
	var out *bufio.Writer
	if o.Credentials != nil {
		out = bufio.NewWriterSize(o.Credentials, 256<<10)
	}
	done := 0
	for done < o.Devices {
		if err := ctx.Err(); err != nil {
			return done, fmt.Errorf("seed: %w", err)
		}
		batch := newSeedBatch(owner.ID, o, done, min(o.Batch, o.Devices-done))
		// The records are made before Update because fn may be retried.
		err := st.Update(ctx, func(tx store.Tx) error {
			for i := range batch.devices {
				if err := tx.CreateDevice(ctx, &batch.devices[i]); err != nil {
					return err
				}
				if err := tx.CreateEABKey(ctx, &batch.keys[i]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return done, fmt.Errorf("seed: devices %d to %d: %w", done+1, done+len(batch.devices), err)
		}
		done += len(batch.devices)
		if out != nil {
			if err := batch.writeCredentials(out, o.Owner, o.Zone); err != nil {
				return done, fmt.Errorf("seed: write credentials: %w", err)
			}
		}
		if o.Progress != nil {
			o.Progress(done)
		}
	}
	if out != nil {
		if err := out.Flush(); err != nil {
			return done, fmt.Errorf("seed: write credentials: %w", err)
		}
	}
	return done, nil
}

// seedBatch is the devices and keys of one transaction.
type seedBatch struct {
	devices []store.Device
	keys    []store.EABKey
	hmac    []string // base64url of keys[i].HMACKey
}

func newSeedBatch(ownerID string, o SeedOptions, first, n int) *seedBatch {
	b := &seedBatch{devices: make([]store.Device, n), keys: make([]store.EABKey, n), hmac: make([]string, n)}
	for i := range n {
		d := &b.devices[i]
		created := o.Now.Add(time.Duration(first+i) * time.Microsecond)
		*d = store.Device{
			ID:        store.NewID(created),
			Label:     names.RandomLabel(),
			OwnerID:   ownerID,
			Name:      o.Name + " " + strconv.Itoa(first+i+1),
			Status:    store.StatusActive,
			CreatedAt: created,
		}
		key, hmacKey := devices.NewEABKey(d.ID, created)
		b.keys[i], b.hmac[i] = *key, hmacKey
	}
	return b
}

func (b *seedBatch) writeCredentials(w io.Writer, owner, zone string) error {
	enc := json.NewEncoder(w)
	for i, d := range b.devices {
		line := devices.Summary{ID: d.ID, Label: d.Label, Owner: owner, Name: d.Name, Names: names.CertNames(d.Label, zone),
			EABKID: b.keys[i].KID, EABHMACKey: b.hmac[i]}
		if err := enc.Encode(&line); err != nil {
			return err
		}
	}
	return nil
}
