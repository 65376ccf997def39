package postgres

import "fmt"

// The SQL of every statement, as store/sqlite's queries.go in PostgreSQL's
// dialect. pgx prepares each once per connection on first use. Lists are
// ordered by creation time, then ID, which keeps "oldest first" stable when
// two rows share a time.

const (
	ownerColumns   = `id, name, created_at`
	deviceColumns  = `id, label, owner_id, name, model, key_thumbprint, status, created_at, revoked_at`
	eabKeyColumns  = `kid, device_id, hmac_key, created_at, used_at, account_id, disabled`
	accountColumns = `id, device_id, key_thumbprint, key_jwk, contact, status, eab_kid, created_at`
	orderColumns   = `id, account_id, device_id, status, identifiers, authorization_ids, profile,
		replaces, expires, created_at, certificate_serial, error`
	authorizationColumns = `id, account_id, order_id, identifier_type, identifier_value, wildcard,
		status, expires, challenges`
	certificateColumns = `serial, device_id, account_id, order_id, names, profile, not_before,
		not_after, chain_pem, created_at, revoked_at, reason, replaced_by`
)

// openOrder is the WHERE term of the partial index orders_open_by_expires
// (migration 00003).
const openOrder = `status IN ('pending', 'ready', 'processing')`

// sweepBatch bounds how many rows one Sweep statement deletes, so that a
// large backlog never holds locks for long.
const sweepBatch = 5000

const (
	qGetOwner       = `SELECT ` + ownerColumns + ` FROM owners WHERE id = $1`
	qGetOwnerByName = `SELECT ` + ownerColumns + ` FROM owners WHERE name = $1`
	qInsertOwner    = `INSERT INTO owners (` + ownerColumns + `) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO NOTHING`

	qInsertDevice       = `INSERT INTO devices (` + deviceColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`
	qGetDevice          = `SELECT ` + deviceColumns + ` FROM devices WHERE id = $1`
	qGetDeviceByLabel   = `SELECT ` + deviceColumns + ` FROM devices WHERE label = $1`
	qListDevices        = `SELECT ` + deviceColumns + ` FROM devices ORDER BY created_at, id`
	qListDevicesByOwner = `SELECT ` + deviceColumns + ` FROM devices WHERE owner_id = $1 ORDER BY created_at, id`
	qUpdateDevice       = `UPDATE devices SET name = $1, status = $2, key_thumbprint = $3, revoked_at = $4
		WHERE id = $5`

	qInsertEABKey = `INSERT INTO eab_keys (` + eabKeyColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7)`
	qGetEABKey    = `SELECT ` + eabKeyColumns + ` FROM eab_keys WHERE kid = $1`
	qUseEABKey    = `UPDATE eab_keys SET used_at = $1, account_id = $2
		WHERE kid = $3 AND used_at IS NULL AND NOT disabled`
	qEABKeyExists         = `SELECT 1 FROM eab_keys WHERE kid = $1`
	qDisableDeviceEABKeys = `UPDATE eab_keys SET disabled = TRUE, disabled_at = $1
		WHERE device_id = $2 AND used_at IS NULL AND NOT disabled`

	qInsertAccount          = `INSERT INTO accounts (` + accountColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`
	qGetAccount             = `SELECT ` + accountColumns + ` FROM accounts WHERE id = $1`
	qGetAccountByThumbprint = `SELECT ` + accountColumns + ` FROM accounts WHERE key_thumbprint = $1`
	qUpdateAccount          = `UPDATE accounts SET status = $1, contact = $2, key_thumbprint = $3, key_jwk = $4
		WHERE id = $5`
	qListAccountsByDevice = `SELECT ` + accountColumns + ` FROM accounts WHERE device_id = $1
		ORDER BY created_at, id`

	qInsertOrder = `INSERT INTO orders (` + orderColumns + `, processing_since)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`
	qGetOrder    = `SELECT ` + orderColumns + ` FROM orders WHERE id = $1`
	qUpdateOrder = `UPDATE orders SET status = $1, error = $2, certificate_serial = $3,
		processing_since = $4
		WHERE id = $5 AND status = $6`
	qOrderExists  = `SELECT 1 FROM orders WHERE id = $1`
	qListOrderIDs = `SELECT id FROM orders WHERE account_id = $1
		ORDER BY created_at, id LIMIT $2`
	qListOrderIDsAfter = `SELECT o.id FROM orders o, orders a
		WHERE a.id = $1 AND o.account_id = $2 AND a.account_id = o.account_id
		  AND (o.created_at, o.id) > (a.created_at, a.id)
		ORDER BY o.created_at, o.id LIMIT $3`
	// A NULL $2 fails every processing order; a time only those processing
	// since before it (or since an unknown time).
	qFailProcessingOrders = `UPDATE orders SET status = 'invalid', error = $1, processing_since = NULL
		WHERE ` + openOrder + ` AND status = 'processing'
		  AND ($2::BIGINT IS NULL OR coalesce(processing_since, 0) < $2::BIGINT)`
	qCountOpenOrders = `SELECT count(*), min(expires) FROM orders
		WHERE account_id = $1 AND ` + openOrder + ` AND expires > $2`
	qInsertAuthorization = `INSERT INTO authorizations (` + authorizationColumns + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`
	qGetAuthorization    = `SELECT ` + authorizationColumns + ` FROM authorizations WHERE id = $1`
	qUpdateAuthorization = `UPDATE authorizations SET status = $1, challenges = $2 WHERE id = $3`

	qInsertCertificate = `INSERT INTO certificates (` + certificateColumns + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`
	qGetCertificate   = `SELECT ` + certificateColumns + ` FROM certificates WHERE serial = $1`
	qListCertificates = `SELECT ` + certificateColumns + ` FROM certificates WHERE device_id = $1
		ORDER BY created_at, serial`
	qRevokeCertificate = `UPDATE certificates SET revoked_at = $1, reason = $2
		WHERE serial = $3 AND revoked_at IS NULL`
	qCertificateExists        = `SELECT 1 FROM certificates WHERE serial = $1`
	qSetCertificateReplacedBy = `UPDATE certificates SET replaced_by = $1 WHERE serial = $2`
	qListRevoked              = `SELECT serial, revoked_at, reason FROM certificates
		WHERE revoked_at IS NOT NULL AND not_after >= $1
		ORDER BY revoked_at, serial`

	qInsertNonce  = `INSERT INTO nonces (nonce, expires) VALUES ($1, $2)`
	qInsertSecret = `INSERT INTO secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING`
	qGetSecret    = `SELECT value FROM secrets WHERE name = $1`

	qGetLimitTAT = `SELECT tat FROM rate_limits WHERE key = $1`
	qSetLimitTAT = `INSERT INTO rate_limits (key, tat) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET tat = excluded.tat`
	qDeleteLimitTAT = `DELETE FROM rate_limits WHERE key = $1`
	// A row to lock for a key that has none yet; Sweep removes it with
	// the other times in the past.
	qInsertLimitPlaceholder = `INSERT INTO rate_limits (key, tat) VALUES ($1, 0) ON CONFLICT (key) DO NOTHING`
)

var (
	qSweepNonces = `DELETE FROM nonces WHERE nonce IN
		(SELECT nonce FROM nonces WHERE expires < $1 LIMIT ` + fmt.Sprint(sweepBatch) + `)`
	qSweepLimitTATs = `DELETE FROM rate_limits WHERE key IN
		(SELECT key FROM rate_limits WHERE tat < $1 LIMIT ` + fmt.Sprint(sweepBatch) + `)`
	qSweepAuthorizations = `UPDATE authorizations SET status = 'invalid'
		WHERE status = 'pending' AND order_id IN
			(SELECT id FROM orders WHERE ` + openOrder + ` AND status <> 'processing' AND expires < $1)`
	qSweepOrders = `UPDATE orders SET status = 'invalid'
		WHERE ` + openOrder + ` AND status <> 'processing' AND expires < $1`
)
