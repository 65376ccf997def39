package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// query names one SQL statement that Open prepares once per pool.
type query int

const (
	getOwner query = iota
	getOwnerByName
	insertOwner

	insertDevice
	getDevice
	getDeviceByLabel
	listDevices
	listDevicesByOwner
	updateDevice

	insertEABKey
	getEABKey
	useEABKey
	eabKeyExists
	disableDeviceEABKeys

	insertAccount
	getAccount
	getAccountByThumbprint
	updateAccount
	listAccountsByDevice

	insertOrder
	getOrder
	updateOrder
	orderExists
	listOrderIDs
	listOrderIDsAfter
	countOpenOrders
	failProcessingOrders
	insertAuthorization
	getAuthorization
	updateAuthorization

	insertCertificate
	getCertificate
	listCertificates
	revokeCertificate
	certificateExists
	setCertificateReplacedBy
	listRevoked

	// --- pairing ---
	insertPairing
	getPairing
	getPairingByDeviceCode
	getPairingByUserCode
	updatePairing
	pairingExists
	listPairings
	listPairingsByOwner
	deletePairings
	insertToken
	getTokenByHash
	revokeDeviceTokens
	setGrants
	getGrants
	insertAudit
	listAudit
	listAuditBefore
	listAuditByOwner
	listAuditByOwnerBefore

	insertNonce
	insertSecret
	getSecret

	getLimitTAT
	setLimitTAT
	deleteLimitTAT

	sweepNonces
	sweepLimitTATs
	sweepAuthorizations
	sweepOrders

	savepoint
	releaseSavepoint
	rollbackToSavepoint

	numQueries
)

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

// Columns of the pairing stream's tables (store/sqlite/pairing.go).
const (
	pairingColumns = `id, device_code_hash, user_code, user_code_hash, client_id, model, hostname,
		key_jwk, key_thumbprint, label, source, status, interval_ms, owner_id, device_id, actor,
		last_polled, created_at, expires, decided_at, redeemed_at`
	tokenColumns = `id, hash, device_id, created_at, expires, revoked_at`
	auditColumns = `id, owner_id, actor, action, device_id, detail, created_at`
)

// openOrder is the WHERE term of the partial index orders_open_by_expires
// (migration 00003). SQLite uses a partial index only for queries that
// contain its term as written, so queries over open orders include it
// even where a narrower term follows.
const openOrder = `status IN ('pending', 'ready', 'processing')`

// sweepBatch bounds how many rows one Sweep transaction deletes, so that
// a large backlog never holds the writer for long.
const sweepBatch = 5000

// queries holds the SQL of every query. Lists are ordered by creation time,
// then ID, which keeps "oldest first" stable when two rows share a time.
var queries = [numQueries]string{
	getOwner:       `SELECT ` + ownerColumns + ` FROM owners WHERE id = ?`,
	getOwnerByName: `SELECT ` + ownerColumns + ` FROM owners WHERE name = ?`,
	insertOwner: `INSERT INTO owners (` + ownerColumns + `) VALUES (?, ?, ?)
		ON CONFLICT (name) DO NOTHING`,

	insertDevice:       `INSERT INTO devices (` + deviceColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
	getDevice:          `SELECT ` + deviceColumns + ` FROM devices WHERE id = ?`,
	getDeviceByLabel:   `SELECT ` + deviceColumns + ` FROM devices WHERE label = ?`,
	listDevices:        `SELECT ` + deviceColumns + ` FROM devices ORDER BY created_at, id`,
	listDevicesByOwner: `SELECT ` + deviceColumns + ` FROM devices WHERE owner_id = ? ORDER BY created_at, id`,
	updateDevice: `UPDATE devices SET name = ?, status = ?, key_thumbprint = ?, revoked_at = ?
		WHERE id = ?`,

	insertEABKey: `INSERT INTO eab_keys (` + eabKeyColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?)`,
	getEABKey:    `SELECT ` + eabKeyColumns + ` FROM eab_keys WHERE kid = ?`,
	useEABKey: `UPDATE eab_keys SET used_at = ?, account_id = ?
		WHERE kid = ? AND used_at IS NULL AND NOT disabled`,
	eabKeyExists: `SELECT 1 FROM eab_keys WHERE kid = ?`,
	disableDeviceEABKeys: `UPDATE eab_keys SET disabled = TRUE, disabled_at = ?
		WHERE device_id = ? AND used_at IS NULL AND NOT disabled`,

	insertAccount:          `INSERT INTO accounts (` + accountColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
	getAccount:             `SELECT ` + accountColumns + ` FROM accounts WHERE id = ?`,
	getAccountByThumbprint: `SELECT ` + accountColumns + ` FROM accounts WHERE key_thumbprint = ?`,
	updateAccount: `UPDATE accounts SET status = ?, contact = ?, key_thumbprint = ?, key_jwk = ?
		WHERE id = ?`,
	listAccountsByDevice: `SELECT ` + accountColumns + ` FROM accounts WHERE device_id = ?
		ORDER BY created_at, id`,

	insertOrder: `INSERT INTO orders (` + orderColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
	getOrder: `SELECT ` + orderColumns + ` FROM orders WHERE id = ?`,
	updateOrder: `UPDATE orders SET status = ?, error = ?, certificate_serial = ?
		WHERE id = ? AND status = ?`,
	orderExists: `SELECT 1 FROM orders WHERE id = ?`,
	listOrderIDs: `SELECT id FROM orders WHERE account_id = ?
		ORDER BY created_at, id LIMIT ?`,
	listOrderIDsAfter: `SELECT o.id FROM orders o, orders a
		WHERE a.id = ? AND o.account_id = ? AND a.account_id = o.account_id
		  AND (o.created_at, o.id) > (a.created_at, a.id)
		ORDER BY o.created_at, o.id LIMIT ?`,
	failProcessingOrders: `UPDATE orders SET status = 'invalid', error = ?
		WHERE ` + openOrder + ` AND status = 'processing'`,
	countOpenOrders: `SELECT count(*), min(expires) FROM orders
		WHERE account_id = ? AND ` + openOrder + ` AND expires > ?`,
	insertAuthorization: `INSERT INTO authorizations (` + authorizationColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
	getAuthorization:    `SELECT ` + authorizationColumns + ` FROM authorizations WHERE id = ?`,
	updateAuthorization: `UPDATE authorizations SET status = ?, challenges = ? WHERE id = ?`,

	insertCertificate: `INSERT INTO certificates (` + certificateColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
	getCertificate: `SELECT ` + certificateColumns + ` FROM certificates WHERE serial = ?`,
	listCertificates: `SELECT ` + certificateColumns + ` FROM certificates WHERE device_id = ?
		ORDER BY created_at, serial`,
	revokeCertificate: `UPDATE certificates SET revoked_at = ?, reason = ?
		WHERE serial = ? AND revoked_at IS NULL`,
	certificateExists:        `SELECT 1 FROM certificates WHERE serial = ?`,
	setCertificateReplacedBy: `UPDATE certificates SET replaced_by = ? WHERE serial = ?`,
	listRevoked: `SELECT serial, revoked_at, reason FROM certificates
		WHERE revoked_at IS NOT NULL AND not_after >= ?
		ORDER BY revoked_at, serial`,

	// --- pairing ---
	insertPairing: `INSERT INTO pairings (` + pairingColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
	getPairing:             `SELECT ` + pairingColumns + ` FROM pairings WHERE id = ?`,
	getPairingByDeviceCode: `SELECT ` + pairingColumns + ` FROM pairings WHERE device_code_hash = ?`,
	getPairingByUserCode:   `SELECT ` + pairingColumns + ` FROM pairings WHERE user_code_hash = ?`,
	updatePairing: `UPDATE pairings SET status = ?, interval_ms = ?, owner_id = ?, device_id = ?, actor = ?,
		last_polled = ?, expires = ?, decided_at = ?, redeemed_at = ?
		WHERE id = ? AND status = ?`,
	pairingExists:       `SELECT 1 FROM pairings WHERE id = ?`,
	listPairings:        `SELECT ` + pairingColumns + ` FROM pairings ORDER BY created_at, id`,
	listPairingsByOwner: `SELECT ` + pairingColumns + ` FROM pairings WHERE owner_id = ? ORDER BY created_at, id`,
	deletePairings:      `DELETE FROM pairings WHERE expires < ?`,
	insertToken:         `INSERT INTO device_tokens (` + tokenColumns + `) VALUES (?, ?, ?, ?, ?, ?)`,
	getTokenByHash:      `SELECT ` + tokenColumns + ` FROM device_tokens WHERE hash = ?`,
	revokeDeviceTokens:  `UPDATE device_tokens SET revoked_at = ? WHERE device_id = ? AND revoked_at IS NULL`,
	setGrants: `INSERT INTO device_grants (device_id, origins, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (device_id) DO UPDATE SET origins = excluded.origins, updated_at = excluded.updated_at`,
	getGrants:   `SELECT device_id, origins, updated_at FROM device_grants WHERE device_id = ?`,
	insertAudit: `INSERT INTO audit_log (` + auditColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?)`,
	listAudit:   `SELECT ` + auditColumns + ` FROM audit_log ORDER BY created_at DESC, id DESC LIMIT ?`,
	listAuditBefore: `SELECT ` + auditColumns + ` FROM audit_log
		WHERE (created_at, id) < (SELECT created_at, id FROM audit_log WHERE id = ?)
		ORDER BY created_at DESC, id DESC LIMIT ?`,
	listAuditByOwner: `SELECT ` + auditColumns + ` FROM audit_log WHERE owner_id = ?
		ORDER BY created_at DESC, id DESC LIMIT ?`,
	listAuditByOwnerBefore: `SELECT ` + auditColumns + ` FROM audit_log
		WHERE owner_id = ? AND (created_at, id) < (SELECT created_at, id FROM audit_log WHERE id = ?)
		ORDER BY created_at DESC, id DESC LIMIT ?`,

	insertNonce:  `INSERT INTO nonces (nonce, expires) VALUES (?, ?)`,
	insertSecret: `INSERT INTO secrets (name, value, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`,
	getSecret:    `SELECT value FROM secrets WHERE name = ?`,

	getLimitTAT: `SELECT tat FROM rate_limits WHERE key = ?`,
	setLimitTAT: `INSERT INTO rate_limits (key, tat) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET tat = excluded.tat`,
	deleteLimitTAT: `DELETE FROM rate_limits WHERE key = ?`,

	sweepNonces: `DELETE FROM nonces WHERE nonce IN
		(SELECT nonce FROM nonces WHERE expires < ? LIMIT ` + fmt.Sprint(sweepBatch) + `)`,
	sweepLimitTATs: `DELETE FROM rate_limits WHERE key IN
		(SELECT key FROM rate_limits WHERE tat < ? LIMIT ` + fmt.Sprint(sweepBatch) + `)`,
	sweepAuthorizations: `UPDATE authorizations SET status = 'invalid'
		WHERE status = 'pending' AND order_id IN
			(SELECT id FROM orders WHERE ` + openOrder + ` AND status <> 'processing' AND expires < ?)`,
	sweepOrders: `UPDATE orders SET status = 'invalid'
		WHERE ` + openOrder + ` AND status <> 'processing' AND expires < ?`,

	savepoint:           `SAVEPOINT one_write`,
	releaseSavepoint:    `RELEASE one_write`,
	rollbackToSavepoint: `ROLLBACK TO one_write`,
}

// statements holds every query prepared on one pool.
type statements [numQueries]*sql.Stmt

func (ss *statements) prepare(ctx context.Context, db *sql.DB) error {
	for q, text := range queries {
		st, err := db.PrepareContext(ctx, text)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", text, err)
		}
		ss[q] = st
	}
	return nil
}

func (ss *statements) close() error {
	var errs []error
	for i, st := range ss {
		if st != nil {
			errs = append(errs, st.Close())
			ss[i] = nil
		}
	}
	return errors.Join(errs...)
}
