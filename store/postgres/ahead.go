package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/lantls/lantls/store"
	"github.com/lantls/lantls/store/internal/sqlstore"
)

// Reads ahead (store.ReadAhead): under a context so marked, the Store's
// read of an account sends, in the same batch and round trip, the reads
// the caller said it makes next (store.Expect; finalize: the order, its
// two authorizations, its device, the device's short name and the model's
// attestation rule, six round trips before), and a read of an EAB key its
// device; later reads are answered from what came back. Reads inside a
// transaction never are.

// readAhead runs reads in one batch, one round trip.
func (s *Store) readAhead(ctx context.Context, reads []sqlstore.Read) error {
	ctx, err := brief(ctx)
	if err != nil {
		return err
	}
	b := &pgx.Batch{}
	for _, r := range reads {
		b.Queue(r.Stmt.Numbered, r.Args...)
	}
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
	for _, r := range reads {
		rows, err := br.Query()
		if err != nil {
			return classify(err)
		}
		for rows.Next() {
			if err := r.Row(rows); err != nil {
				rows.Close()
				return err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return classify(err)
		}
		if r.Done != nil {
			r.Done()
		}
	}
	return classify(br.Close())
}

// ahead answers a read of the row of kind with key from the rows read
// ahead under ctx. If there is none and first is set, it reads first's
// batch, which holds the row, and answers from that; otherwise, or when
// the row is not there, get reads it alone. A row kept as nil (read ahead
// and found missing) is store.ErrNotFound, as get says it.
func ahead[T any](ctx context.Context, s *Store, kind, key string, first func(string, *store.AheadRows) []sqlstore.Read,
	get func(context.Context, string) (T, error)) (T, error) {
	rows := store.AheadOf(ctx)
	if rows == nil {
		return get(ctx, key)
	}
	row, ok := rows.Take(kind, key)
	if !ok && first != nil && s.readAhead(ctx, first(key, rows)) == nil {
		row, ok = rows.Take(kind, key)
	}
	if !ok {
		return get(ctx, key)
	}
	if row == nil {
		var zero T
		return zero, fmt.Errorf("get %s %q: %w", kind, key, store.ErrNotFound)
	}
	return row.(T), nil
}

// GetAccount reads the account id, and under store.ReadAhead what the
// caller said it reads next (store.Expect).
func (s *Store) GetAccount(ctx context.Context, id string) (*store.Account, error) {
	var first func(string, *store.AheadRows) []sqlstore.Read
	if store.AheadOf(ctx).Expecting() {
		first = sqlstore.AccountAhead
	}
	return ahead(ctx, s, sqlstore.AheadAccount, id, first, s.txn.GetAccount)
}

// GetEABKey reads the EAB key kid, and under store.ReadAhead its device.
func (s *Store) GetEABKey(ctx context.Context, kid string) (*store.EABKey, error) {
	return ahead(ctx, s, sqlstore.AheadEABKey, kid, sqlstore.EABKeyAhead, s.txn.GetEABKey)
}

// GetOrder reads the order id, or takes it from the rows read ahead.
func (s *Store) GetOrder(ctx context.Context, id string) (*store.Order, error) {
	return ahead(ctx, s, sqlstore.AheadOrder, id, nil, s.txn.GetOrder)
}

// GetDevice reads the device id, or takes it from the rows read ahead.
func (s *Store) GetDevice(ctx context.Context, id string) (*store.Device, error) {
	return ahead(ctx, s, sqlstore.AheadDevice, id, nil, s.txn.GetDevice)
}

// GetCertificate reads the certificate serial, or takes it from the rows
// read ahead.
func (s *Store) GetCertificate(ctx context.Context, serial string) (*store.Certificate, error) {
	return ahead(ctx, s, sqlstore.AheadCertificate, serial, nil, s.txn.GetCertificate)
}

// GetAuthorization reads the authorization id, or takes it from the rows
// read ahead.
func (s *Store) GetAuthorization(ctx context.Context, id string) (*store.Authorization, error) {
	return ahead(ctx, s, sqlstore.AheadAuthorization, id, nil, s.txn.GetAuthorization)
}

// GetDeviceShortName reads a device's short name, or takes it from the
// rows read ahead.
func (s *Store) GetDeviceShortName(ctx context.Context, deviceID string) (store.ShortName, error) {
	return ahead(ctx, s, sqlstore.AheadShortName, deviceID, nil, s.txn.GetDeviceShortName)
}

// GetAttestPolicy reads the attestation rule of model, or takes it from
// the rows read ahead.
func (s *Store) GetAttestPolicy(ctx context.Context, model string) (*store.AttestPolicy, error) {
	return ahead(ctx, s, sqlstore.AheadAttestPolicy, model, nil, s.txn.GetAttestPolicy)
}
