package sqlstore

import "fmt"

// The statements of the ACME core (migrations 00001-00003, 00160). Lists
// are ordered by creation time, then ID, which keeps "oldest first"
// stable when two rows share a time.

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
// (migration 00003). SQLite uses a partial index only for queries that
// contain its term as written, so queries over open orders include it
// even where a narrower term follows.
const openOrder = `status IN ('pending', 'ready', 'processing')`

// SweepBatch bounds how many rows one Sweep statement deletes, so that a
// large backlog never holds the writer, or locks, for long.
const SweepBatch = 5000

var (
	getOwner       = keyRead(`SELECT ` + ownerColumns + ` FROM owners WHERE id = ?`)
	getOwnerByName = keyRead(`SELECT ` + ownerColumns + ` FROM owners WHERE name = ?`)
	insertOwner    = stmt(`INSERT INTO owners (` + ownerColumns + `) VALUES (?, ?, ?)
		ON CONFLICT (name) DO NOTHING`)

	insertDevice       = stmt(`INSERT INTO devices (` + deviceColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	getDevice          = keyRead(`SELECT ` + deviceColumns + ` FROM devices WHERE id = ?`)
	getDeviceByLabel   = keyRead(`SELECT ` + deviceColumns + ` FROM devices WHERE label = ?`)
	listDevices        = stmt(`SELECT ` + deviceColumns + ` FROM devices ORDER BY created_at, id`)
	listDevicesByOwner = stmt(`SELECT ` + deviceColumns + ` FROM devices WHERE owner_id = ? ORDER BY created_at, id`)
	updateDevice       = stmt(`UPDATE devices SET name = ?, status = ?, key_thumbprint = ?, revoked_at = ?
		WHERE id = ?`)

	insertEABKey = stmt(`INSERT INTO eab_keys (` + eabKeyColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	getEABKey    = keyRead(`SELECT ` + eabKeyColumns + ` FROM eab_keys WHERE kid = ?`)
	useEABKey    = stmt(`UPDATE eab_keys SET used_at = ?, account_id = ?
		WHERE kid = ? AND used_at IS NULL AND NOT disabled`)
	eabKeyExists         = stmt(`SELECT 1 FROM eab_keys WHERE kid = ?`)
	disableDeviceEABKeys = stmt(`UPDATE eab_keys SET disabled = TRUE, disabled_at = ?
		WHERE device_id = ? AND used_at IS NULL AND NOT disabled`)

	insertAccount          = stmt(`INSERT INTO accounts (` + accountColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	getAccount             = keyRead(`SELECT ` + accountColumns + ` FROM accounts WHERE id = ?`)
	getAccountByThumbprint = keyRead(`SELECT ` + accountColumns + ` FROM accounts WHERE key_thumbprint = ?`)
	updateAccount          = stmt(`UPDATE accounts SET status = ?, contact = ?, key_thumbprint = ?, key_jwk = ?
		WHERE id = ?`)
	listAccountsByDevice = stmt(`SELECT ` + accountColumns + ` FROM accounts WHERE device_id = ?
		ORDER BY created_at, id`)

	// processing_since records when an order became processing, for
	// FailProcessingOrders's cutoff.
	insertOrder = stmt(`INSERT INTO orders (` + orderColumns + `, processing_since)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	getOrder    = keyRead(`SELECT ` + orderColumns + ` FROM orders WHERE id = ?`)
	updateOrder = stmt(`UPDATE orders SET status = ?, error = ?, certificate_serial = ?, processing_since = ?
		WHERE id = ? AND status = ?`)
	orderExists  = stmt(`SELECT 1 FROM orders WHERE id = ?`)
	listOrderIDs = stmt(`SELECT id FROM orders WHERE account_id = ?
		ORDER BY created_at, id LIMIT ?`)
	listOrderIDsAfter = stmt(`SELECT o.id FROM orders o, orders a
		WHERE a.id = ? AND o.account_id = ? AND a.account_id = o.account_id
		  AND (o.created_at, o.id) > (a.created_at, a.id)
		ORDER BY o.created_at, o.id LIMIT ?`)
	// A NULL cutoff (given twice) fails every processing order; a time
	// only those processing since before it (or since an unknown time).
	failProcessingOrders = stmt(`UPDATE orders SET status = 'invalid', error = ?, processing_since = NULL
		WHERE ` + openOrder + ` AND status = 'processing'
		  AND (CAST(? AS BIGINT) IS NULL OR coalesce(processing_since, 0) < CAST(? AS BIGINT))`)
	countOpenOrders = stmt(`SELECT count(*), min(expires) FROM orders
		WHERE account_id = ? AND ` + openOrder + ` AND expires > ?`)
	insertAuthorization = stmt(`INSERT INTO authorizations (` + authorizationColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	getAuthorization    = keyRead(`SELECT ` + authorizationColumns + ` FROM authorizations WHERE id = ?`)
	updateAuthorization = stmt(`UPDATE authorizations SET status = ?, challenges = ? WHERE id = ?`)

	insertCertificate = stmt(`INSERT INTO certificates (` + certificateColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	getCertificate   = keyRead(`SELECT ` + certificateColumns + ` FROM certificates WHERE serial = ?`)
	listCertificates = stmt(`SELECT ` + certificateColumns + ` FROM certificates WHERE device_id = ?
		ORDER BY created_at, serial`)
	revokeCertificate = stmt(`UPDATE certificates SET revoked_at = ?, reason = ?
		WHERE serial = ? AND revoked_at IS NULL`)
	certificateExists        = stmt(`SELECT 1 FROM certificates WHERE serial = ?`)
	setCertificateReplacedBy = stmt(`UPDATE certificates SET replaced_by = ? WHERE serial = ?`)
	listRevoked              = stmt(`SELECT serial, revoked_at, reason FROM certificates
		WHERE revoked_at IS NOT NULL AND not_after >= ?
		ORDER BY revoked_at, serial`)

	insertNonce  = stmt(`INSERT INTO nonces (nonce, expires) VALUES (?, ?)`)
	insertSecret = stmt(`INSERT INTO secrets (name, value, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`)
	getSecret    = stmt(`SELECT value FROM secrets WHERE name = ?`)

	getLimitTAT = keyRead(`SELECT tat FROM rate_limits WHERE key = ?`)
	setLimitTAT = blindWrite(`INSERT INTO rate_limits (key, tat) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET tat = excluded.tat`)
	deleteLimitTAT = blindWrite(`DELETE FROM rate_limits WHERE key = ?`)
	// Where reading locks (DB.LocksRows): reads key's time and locks its
	// row in one statement, creating the row (time 0) for a key that has
	// none yet; Sweep removes it with the other times in the past. The
	// update writes the time it found, so it never moves it; in READ
	// COMMITTED it waits for a transaction holding the row and returns the
	// time that one committed, as SELECT ... FOR UPDATE does.
	lockLimitTAT = stmt(`INSERT INTO rate_limits (key, tat) VALUES (?, 0)
		ON CONFLICT (key) DO UPDATE SET tat = rate_limits.tat RETURNING tat`)

	sweepNonces = stmt(`DELETE FROM nonces WHERE nonce IN
		(SELECT nonce FROM nonces WHERE expires < ? LIMIT ` + fmt.Sprint(SweepBatch) + `)`)
	sweepLimitTATs = stmt(`DELETE FROM rate_limits WHERE key IN
		(SELECT key FROM rate_limits WHERE tat < ? LIMIT ` + fmt.Sprint(SweepBatch) + `)`)
	sweepAuthorizations = stmt(`UPDATE authorizations SET status = 'invalid'
		WHERE status = 'pending' AND order_id IN
			(SELECT id FROM orders WHERE ` + openOrder + ` AND status <> 'processing' AND expires < ?)`)
	sweepOrders = stmt(`UPDATE orders SET status = 'invalid'
		WHERE ` + openOrder + ` AND status <> 'processing' AND expires < ?`)
)

// OpenOrderStatements are the statements over open orders: each repeats
// openOrder so that SQLite uses the partial index, which the SQLite
// backend's tests check in the query plans.
var OpenOrderStatements = []*Stmt{failProcessingOrders, sweepOrders, sweepAuthorizations}
