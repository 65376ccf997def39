package sqlstore

import (
	"context"
	"fmt"

	"github.com/lantls/lantls/store"
)

// A page of the device list in one statement: each device with its
// owner's name, its certificates counted and dated (correlated subqueries
// on certificates_by_device), and its status, short name and DNS data.
// Every filter is optional: an empty text (or false) leaves it out.
var listDeviceSummaries = stmt(`SELECT d.id, d.label, d.owner_id, d.name, d.model, d.key_thumbprint, d.status,
		d.created_at, d.revoked_at, o.name,
		(SELECT count(*) FROM certificates c WHERE c.device_id = d.id),
		(SELECT max(c.not_after) FROM certificates c WHERE c.device_id = d.id AND c.revoked_at IS NULL),
		(SELECT max(c.created_at) FROM certificates c WHERE c.device_id = d.id AND c.revoked_at IS NULL),
		COALESCE(s.last_error, ''), s.at, s.updated_at, COALESCE(s.name_check, ''),
		COALESCE(s.name_check_name, ''), COALESCE(s.name_check_detail, ''), s.name_check_at,
		COALESCE(n.short_name, ''), COALESCE(n.mdns, FALSE),
		COALESCE(x.addresses, '[]'), COALESCE(x.publish, ''), COALESCE(x.port, 0)
	FROM devices d JOIN owners o ON o.id = d.owner_id
		LEFT JOIN device_status s ON s.device_id = d.id
		LEFT JOIN device_names n ON n.device_id = d.id
		LEFT JOIN device_dns x ON x.device_id = d.id
	WHERE (? = '' OR d.owner_id = ?) AND (? = '' OR d.id = ?)
		AND (? = '' OR (d.created_at, d.id) < (SELECT b.created_at, b.id FROM devices b WHERE b.id = ?))
		AND (? OR d.status <> 'removed')
	ORDER BY d.created_at DESC, d.id DESC LIMIT ?`)

// ListDeviceSummaries returns a page of devices with what a device list
// shows of each, newest first.
func (t Tx) ListDeviceSummaries(ctx context.Context, f store.DeviceSummaryFilter) ([]*store.DeviceSummary, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	ds, err := list(ctx, t.DB, listDeviceSummaries, scanDeviceSummary,
		f.OwnerID, f.OwnerID, f.ID, f.ID, f.Before, f.Before, f.Removed, limit)
	if err != nil {
		return nil, fmt.Errorf("list device summaries: %w", err)
	}
	return ds, nil
}

func scanDeviceSummary(r Scanner) (*store.DeviceSummary, error) {
	var (
		d            store.DeviceSummary
		addrs        string
		certificates int64
	)
	err := r.Scan(&d.ID, &d.Label, &d.OwnerID, &d.Name, &d.Model, &d.KeyThumbprint, (*string)(&d.Status),
		asTime(&d.CreatedAt), asTime(&d.RevokedAt), &d.OwnerName, &certificates, asTime(&d.CertExpiry), asTime(&d.LastIssued),
		&d.Reported.LastError, asTime(&d.Reported.At), asTime(&d.Reported.UpdatedAt), (*string)(&d.Reported.NameCheck.Result),
		&d.Reported.NameCheck.Name, &d.Reported.NameCheck.Detail, asTime(&d.Reported.NameCheck.At),
		&d.ShortName.Name, &d.ShortName.MDNS, &addrs, (*string)(&d.Publish), &d.Port)
	if err != nil {
		return nil, err
	}
	d.Certificates = int(certificates)
	d.Reported.DeviceID = d.ID
	if d.Addresses, err = parseAddresses(d.ID, addrs); err != nil {
		return nil, err
	}
	return &d, nil
}
