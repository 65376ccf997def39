package devices

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/lantls/lantls/store"
)

// Actor is who acts on a device: a user of an owner, an admin, or the
// command line. Every function below that changes or reads one device
// checks it against the device's owner.
type Actor struct {
	OwnerID string // the owner the acting user belongs to
	Name    string // who it is, for the audit log
	Admin   bool   // an admin acts on every owner's devices
}

// Operator is the actor of `lantls admin` on the issuer's machine, who may
// act on every device.
var Operator = Actor{Name: "cli", Admin: true}

// ErrNotFound is returned for a device that does not exist or that the
// actor may not see; the two are not told apart, so that an owner learns
// nothing about other owners' devices.
var ErrNotFound = errors.New("no such device")

// Audit actions: what the audit log records.
const (
	AuditLogin   = "login"   // a user logged in to the owner UI
	AuditApprove = "approve" // an owner approved a pairing
	AuditDeny    = "deny"    // an owner denied a pairing
	AuditPair    = "pair"    // a paired device collected its credentials
	AuditIssue   = "issue"   // a certificate was issued
	AuditRevoke  = "revoke"  // a certificate was revoked
	AuditUnpair  = "unpair"  // a device was unpaired or revoked as a whole
	AuditRename  = "rename"  // a device was renamed
	AuditGrants  = "grants"  // a device's origin grants changed
	AuditToken   = "token"   // a device rotated its bearer token
	// AuditAttest is a device that proved its key in hardware
	// (device-attest-01); AuditAttestFailed one whose statement was
	// refused.
	AuditAttest       = "attest"
	AuditAttestFailed = "attest-failed"
	// AuditLoginFailed is a wrong password for a user; AuditLockout the
	// failure after which the user's password logins are refused a while.
	AuditLoginFailed = "login-failed"
	AuditLockout     = "lockout"
)

// Audit records one entry in ownerID's audit log ("" for the issuer's
// own), inside tx so that it commits with the work it records.
func Audit(ctx context.Context, tx store.Tx, ownerID, actor, action, detail string) error {
	return addAudit(ctx, tx, &store.AuditEntry{OwnerID: ownerID, Actor: actor, Action: action, Detail: detail})
}

// AuditDevice records one entry about d in its owner's audit log.
func AuditDevice(ctx context.Context, tx store.Tx, d *store.Device, actor, action, detail string) error {
	return addAudit(ctx, tx, &store.AuditEntry{OwnerID: d.OwnerID, DeviceID: d.ID, Actor: actor, Action: action, Detail: detail})
}

func addAudit(ctx context.Context, tx store.Tx, e *store.AuditEntry) error {
	if err := tx.AddAudit(ctx, e); err != nil {
		return fmt.Errorf("audit %s: %w", e.Action, err)
	}
	return nil
}

// AuditLog returns up to limit entries of the actor's audit log, newest
// first, before the entry with ID before ("" for the newest); an admin
// reads every owner's.
func AuditLog(ctx context.Context, st store.Store, a Actor, before string, limit int) ([]*store.AuditEntry, error) {
	f := store.AuditFilter{OwnerID: a.OwnerID, Before: before, Limit: limit}
	if a.Admin {
		f.OwnerID = ""
	} else if a.OwnerID == "" {
		return []*store.AuditEntry{}, nil
	}
	es, err := st.ListAudit(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return es, nil
}

// List returns the devices the actor may see, oldest first: an owner's
// own, or every device for an admin.
func List(ctx context.Context, st store.Store, a Actor) ([]*store.Device, error) {
	f := store.DeviceFilter{OwnerID: a.OwnerID}
	if a.Admin {
		f.OwnerID = ""
	} else if a.OwnerID == "" {
		return []*store.Device{}, nil
	}
	ds, err := st.ListDevices(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return ds, nil
}

// ListPage returns a page of up to limit devices the actor may see, with
// what a device list shows of each, newest first, made before the device
// with ID before ("" for the newest), without those their owner removed;
// one query for the page.
func ListPage(ctx context.Context, st store.Store, a Actor, before string, limit int) ([]*store.DeviceSummary, error) {
	f := store.DeviceSummaryFilter{OwnerID: a.OwnerID, Before: before, Limit: limit}
	if a.Admin {
		f.OwnerID = ""
	} else if a.OwnerID == "" {
		return []*store.DeviceSummary{}, nil
	}
	ds, err := st.ListDeviceSummaries(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return ds, nil
}

// GetSummary returns d, which the actor may see, with what the device
// list shows of it.
func GetSummary(ctx context.Context, st store.Store, a Actor, d *store.Device) (*store.DeviceSummary, error) {
	if !a.may(d) {
		return nil, ErrNotFound
	}
	ds, err := st.ListDeviceSummaries(ctx, store.DeviceSummaryFilter{ID: d.ID, Removed: true})
	if err == nil && len(ds) == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get device %q: %w", d.ID, err)
	}
	return ds[0], nil
}

// Get returns the device with ID id if the actor may see it.
func Get(ctx context.Context, st store.Tx, a Actor, id string) (*store.Device, error) {
	d, err := st.GetDevice(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get device: %w", err)
	}
	if !a.may(d) {
		return nil, ErrNotFound
	}
	return d, nil
}

func (a Actor) may(d *store.Device) bool {
	return a.Admin || (a.OwnerID != "" && a.OwnerID == d.OwnerID)
}

// Rename gives the device with ID id a new display name.
func Rename(ctx context.Context, st store.Store, a Actor, id, name string) (*store.Device, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return nil, errors.New("rename device: the name must have 1 to 100 characters")
	}
	var d *store.Device
	err := st.Update(ctx, func(tx store.Tx) error {
		var err error
		if d, err = Get(ctx, tx, a, id); err != nil {
			return err
		}
		old := d.Name
		d.Name = name
		if err := tx.UpdateDevice(ctx, d); err != nil {
			return err
		}
		return AuditDevice(ctx, tx, d, a.Name, AuditRename, fmt.Sprintf("%q -> %q", old, name))
	})
	if err != nil {
		return nil, fmt.Errorf("rename device: %w", err)
	}
	return d, nil
}

// Unpaired says what Unpair did.
type Unpaired struct {
	Revoked
	Tokens int // bearer tokens revoked
}

// Unpair ends the device with ID id, in one transaction: it revokes every
// unexpired certificate, deactivates its ACME accounts, disables its EAB
// keys and bearer tokens, drops its origin grants and the addresses it
// reported, and marks it revoked, which takes its names out of DNS (only
// active devices' names resolve).
// Unpairing a device that is already revoked finishes what is left (a
// device revoked before tokens existed keeps none).
func Unpair(ctx context.Context, st store.Store, a Actor, id string, now time.Time) (*Unpaired, error) {
	var u Unpaired
	err := st.Update(ctx, func(tx store.Tx) error {
		u = Unpaired{}
		d, err := Get(ctx, tx, a, id)
		if err != nil {
			return err
		}
		if err := revokeDevice(ctx, tx, d, now, &u.Revoked); err != nil {
			return err
		}
		if u.Tokens, err = tx.RevokeDeviceTokens(ctx, d.ID, now); err != nil {
			return err
		}
		if err := tx.SetGrants(ctx, &store.Grants{DeviceID: d.ID, Origins: []string{}, UpdatedAt: now}); err != nil {
			return err
		}
		if err := tx.SetDeviceAddresses(ctx, d.ID, nil); err != nil {
			return err
		}
		return AuditDevice(ctx, tx, d, a.Name, AuditUnpair,
			count(u.Certificates, "certificate")+" revoked, "+count(u.Accounts, "account")+" deactivated, "+count(u.Tokens, "token")+" revoked")
	})
	if err != nil {
		return nil, fmt.Errorf("unpair device: %w", err)
	}
	return &u, nil
}

// MaxOrigins bounds the origin grants of one device.
const MaxOrigins = 32

// SetGrants replaces the web origins allowed to call the device with ID id
// from a browser. Each must be an https origin such as
// "https://app.vendor.example" or "https://app.example:8443"; they are
// stored normalized (lowercase, default port dropped, no duplicates).
func SetGrants(ctx context.Context, st store.Store, a Actor, id string, origins []string) ([]string, error) {
	norm := make([]string, 0, len(origins))
	for _, o := range origins {
		if strings.TrimSpace(o) == "" {
			continue
		}
		n, err := NormalizeOrigin(o)
		if err != nil {
			return nil, fmt.Errorf("set origin grants: %w", err)
		}
		if !slices.Contains(norm, n) {
			norm = append(norm, n)
		}
	}
	if len(norm) > MaxOrigins {
		return nil, fmt.Errorf("set origin grants: at most %d origins per device", MaxOrigins)
	}
	err := st.Update(ctx, func(tx store.Tx) error {
		d, err := Get(ctx, tx, a, id)
		if err != nil {
			return err
		}
		if d.Status != store.StatusActive {
			return fmt.Errorf("device is %s", d.Status)
		}
		if err := tx.SetGrants(ctx, &store.Grants{DeviceID: d.ID, Origins: norm}); err != nil {
			return err
		}
		return AuditDevice(ctx, tx, d, a.Name, AuditGrants, strings.Join(norm, " "))
	})
	if err != nil {
		return nil, fmt.Errorf("set origin grants: %w", err)
	}
	return norm, nil
}

// Grants returns the origin grants of the device with ID id.
func Grants(ctx context.Context, st store.Store, a Actor, id string) (*store.Grants, error) {
	if _, err := Get(ctx, st, a, id); err != nil {
		return nil, fmt.Errorf("origin grants: %w", err)
	}
	g, err := st.GetGrants(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("origin grants: %w", err)
	}
	return g, nil
}

// NormalizeOrigin checks that s is an https web origin (RFC 6454: scheme,
// host and port, nothing else) and returns it in lowercase without the
// default port.
func NormalizeOrigin(s string) (string, error) {
	s = strings.TrimSpace(s)
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("origin %q: want https://HOST or https://HOST:PORT", s)
	}
	if !strings.EqualFold(u.Scheme, "https") {
		return "", fmt.Errorf("origin %q: only https origins can call a device (browsers need a secure context)", s)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("origin %q: an origin has no user, path, query or fragment", s)
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if host == "" || strings.ContainsAny(host, " *") {
		return "", fmt.Errorf("origin %q: bad host", s)
	}
	if port == "443" {
		port = ""
	}
	if port != "" {
		return "https://" + net.JoinHostPort(host, port), nil
	}
	if strings.Contains(host, ":") {
		return "https://[" + host + "]", nil
	}
	return "https://" + host, nil
}

// count is "1 thing" or "N things", for the audit log's sentences.
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
