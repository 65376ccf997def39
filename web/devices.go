package web

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
)

// deviceRow is what the device list and the device page show of a device.
type deviceRow struct {
	ID, Name, Label, Model, Owner string
	Status                        store.Status
	Active                        bool
	Stock                         bool // made for a stock ACME client, not paired
	Links                         []addrLink
	Addresses                     []string      // all the device reported
	Publish                       store.Publish // the owner's choice about L.Z in DNS
	PublishDefault                bool          // what the zone does without one
	Names                         []string
	CertExpiry                    time.Time
	LastRenewal                   time.Time
	Certificates                  int
	Created                       time.Time
	// LastError is why the device's certificate is late, if the issuer
	// knows: the last failure of its order at the upstream CA.
	LastError string
	// DeviceError is the last failure the device itself reported (PUT
	// /api/v1/device/status), at DeviceErrorAt; empty after a success.
	DeviceError   string
	DeviceErrorAt time.Time
	// ShortName is the owner's name for the device (tv), ShortURL its
	// https://tv.ZONE/ link; ShortNames says the signer adds them to
	// certificates, MDNSNames that it may add tv.local.
	Zone                  string
	ShortName             string
	ShortMDNS             bool
	ShortURL              string
	ShortNames, MDNSNames bool
	// NameFilter is set when the device reported that its names do not
	// resolve through its resolver.
	NameFilter *nameFilter
}

// addrLink is one address a device reported and the https:// URL of its
// address-name.
type addrLink struct {
	Addr, Name, URL string
	Text            string // URL as the page shows it, without the final slash
}

// actor is v as the devices package checks it.
func (v *viewer) actorOf() devices.Actor {
	return devices.Actor{OwnerID: v.user.OwnerID, Name: v.user.Name, Admin: v.admin()}
}

// lastErrors returns, by device ID, the last failure of each order still
// being signed at the upstream CA (ca/upstream): what delays a device's
// certificate.
func (s *Server) lastErrors(ctx context.Context) (map[string]string, error) {
	us, err := s.cfg.Store.ListUpstreamOrders(ctx)
	if err != nil {
		return nil, err
	}
	errs := map[string]string{}
	for _, u := range us {
		if u.LastError == "" {
			continue
		}
		o, err := s.cfg.Store.GetOrder(ctx, u.OrderID)
		if err != nil {
			continue // finished since
		}
		errs[o.DeviceID] = u.LastError
	}
	return errs, nil
}

// row is what the pages show of the device d; showOwner adds its owner's
// name (for an admin), onLoopback says the browser is on the issuer's
// machine (see links).
func (s *Server) row(d *store.DeviceSummary, showOwner, onLoopback bool) *deviceRow {
	row := &deviceRow{
		ID: d.ID, Name: d.Name, Label: d.Label, Model: d.Model, Status: d.Status,
		Active: d.Status == store.StatusActive, Stock: d.KeyThumbprint == "",
		Names: names.CertNames(d.Label, s.cfg.Zone), Created: d.CreatedAt,
		Certificates: d.Certificates, CertExpiry: d.CertExpiry, LastRenewal: d.LastIssued,
		DeviceError: d.Reported.LastError, DeviceErrorAt: d.Reported.At,
		Publish: d.Publish, PublishDefault: names.PublishByDefault(s.cfg.Zone),
	}
	if showOwner {
		row.Owner = d.OwnerName
	}
	s.shortNameRow(row, d.ShortName, d.Reported.NameCheck)
	if row.Active {
		row.Links = s.links(d.Addresses, d.Label, d.Port, onLoopback)
		if row.ShortURL != "" {
			row.ShortURL = httpsURL(row.ShortName+"."+s.cfg.Zone, d.Port)
		}
		for _, a := range d.Addresses {
			row.Addresses = append(row.Addresses, a.String())
		}
	}
	return row
}

// deviceRow is row for the device d of a device page.
func (s *Server) deviceRow(r *http.Request, v *viewer, d *store.Device) (*deviceRow, error) {
	sum, err := devices.GetSummary(r.Context(), s.cfg.Store, v.actorOf(), d)
	if err != nil {
		return nil, err
	}
	return s.row(sum, v.admin(), fromLoopback(r)), nil
}

// links are the address-names of addrs that a browser can open, on the
// port the device reported (0: 443): never an IPv6 link-local address (a
// URL cannot carry its zone), a multicast or unspecified one; loopback
// only for a browser on loopback itself, the one machine where it means
// the device.
func (s *Server) links(addrs []netip.Addr, label string, port int, onLoopback bool) []addrLink {
	var ls []addrLink
	for _, a := range addrs {
		a = a.Unmap()
		if (a.Is6() && a.IsLinkLocalUnicast()) || a.IsMulticast() || a.IsUnspecified() || (a.IsLoopback() && !onLoopback) {
			continue
		}
		n := names.AddressName(a, label, s.cfg.Zone)
		u := httpsURL(n, port)
		ls = append(ls, addrLink{Addr: a.String(), Name: n, URL: u, Text: strings.TrimSuffix(u, "/")})
	}
	return ls
}

// httpsURL is https://host/, with the port unless it is 443 or 0.
func httpsURL(host string, port int) string {
	if port == 0 || port == 443 {
		return "https://" + host + "/"
	}
	return "https://" + net.JoinHostPort(host, strconv.Itoa(port)) + "/"
}

// fromLoopback reports whether r came from the issuer's own machine.
func fromLoopback(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

type devicesPage struct {
	Devices []*deviceRow
	Admin   bool
	// Older, when set, is the ID to list the next, older page from.
	Older string
}

// devicesPageSize is how many devices a page of the list shows.
const devicesPageSize = 50

func (s *Server) serveDevices(w http.ResponseWriter, r *http.Request, v *viewer) error {
	// Newest first: the device just paired is the one the owner looks for.
	// One more than a page says whether an older page follows.
	ds, err := devices.ListPage(r.Context(), s.cfg.Store, v.actorOf(), r.URL.Query().Get("before"), devicesPageSize+1)
	if err != nil {
		return err
	}
	page := &devicesPage{Admin: v.admin()}
	if len(ds) > devicesPageSize {
		ds = ds[:devicesPageSize]
		page.Older = ds[len(ds)-1].ID
	}
	lastErrors, err := s.lastErrors(r.Context())
	if err != nil {
		return err
	}
	for _, d := range ds {
		row := s.row(d, v.admin(), fromLoopback(r))
		row.LastError = lastErrors[row.ID]
		page.Devices = append(page.Devices, row)
	}
	s.render(w, r, v, http.StatusOK, "devices", "Devices", page)
	return nil
}

type devicePage struct {
	*deviceRow
	Origins      string
	Certificates []*store.Certificate
	History      []*store.AuditEntry
	Unpaired     time.Time
	// Attestation is the last device-attest-01 the device passed; nil if
	// none.
	Attestation *store.DeviceAttestation
	// Error is a problem with the page's form of no one field; the others
	// show beside their field.
	Error, NameError, PublishError, GrantsError string
	// ShortNameError and ShortNameValue are the short-name form's problem
	// and what was typed.
	ShortNameError, ShortNameValue string
}

// formError is a problem with one of the device page's forms.
type formError struct {
	field string // name, publish or grants
	msg   string
	value string // what the person typed, shown again
}

// device loads the device of the request's {id} if v may see it;
// otherwise, missing or not, it is errNotFound.
func (s *Server) device(r *http.Request, v *viewer) (*store.Device, error) {
	d, err := devices.Get(r.Context(), s.cfg.Store, v.actorOf(), r.PathValue("id"))
	if errors.Is(err, devices.ErrNotFound) {
		return nil, errNotFound
	}
	return d, err
}

func (s *Server) serveDevice(w http.ResponseWriter, r *http.Request, v *viewer) error {
	d, err := s.device(r, v)
	if err != nil {
		return err
	}
	return s.renderDevice(w, r, v, d, nil)
}

// historyScan bounds how many of the owner's newest audit entries the
// device page reads to find the device's own, and historySize how many of
// those it shows.
const historyScan, historySize = 1000, 20

func (s *Server) renderDevice(w http.ResponseWriter, r *http.Request, v *viewer, d *store.Device, fe *formError) error {
	row, err := s.deviceRow(r, v, d)
	if err != nil {
		return err
	}
	lastErrors, err := s.lastErrors(r.Context())
	if err != nil {
		return err
	}
	row.LastError = lastErrors[d.ID]
	page := &devicePage{deviceRow: row, Unpaired: d.RevokedAt}
	if page.Certificates, err = s.cfg.Store.ListCertificates(r.Context(), d.ID); err != nil {
		return err
	}
	if page.Attestation, err = devices.Attestation(r.Context(), s.cfg.Store, v.actorOf(), d.ID); err != nil {
		return err
	}
	es, err := devices.AuditLog(r.Context(), s.cfg.Store, v.actorOf(), "", historyScan)
	if err != nil {
		return err
	}
	for _, e := range es {
		if e.DeviceID == d.ID && len(page.History) < historySize {
			page.History = append(page.History, e)
		}
	}
	status := http.StatusOK
	if fe != nil {
		status = http.StatusBadRequest
		switch fe.field {
		case "name":
			page.NameError = fe.msg
		case "publish":
			page.PublishError = fe.msg
		case "grants":
			page.GrantsError, page.Origins = fe.msg, fe.value
		case "short":
			page.ShortNameError, page.ShortNameValue = fe.msg, fe.value
		default:
			page.Error = fe.msg
		}
	}
	if page.GrantsError == "" {
		g, err := devices.Grants(r.Context(), s.cfg.Store, v.actorOf(), d.ID)
		if err != nil {
			return err
		}
		for _, o := range g.Origins {
			page.Origins += o + "\n"
		}
	}
	s.render(w, r, v, status, "device", d.Name, page)
	return nil
}

func (s *Server) postRename(w http.ResponseWriter, r *http.Request, v *viewer) error {
	d, err := s.device(r, v)
	if err != nil {
		return err
	}
	name, msg := parseDeviceName(r.PostForm)
	if msg != "" {
		return s.renderDevice(w, r, v, d, &formError{field: "name", msg: msg})
	}
	if _, err := devices.Rename(r.Context(), s.cfg.Store, v.actorOf(), d.ID, name); err != nil {
		return err
	}
	http.Redirect(w, r, "/devices/"+d.ID+"?msg=renamed", http.StatusSeeOther)
	return nil
}

// confirmPage asks before a destructive action on a device, saying what
// happens at once and what the device sees, and when.
type confirmPage struct {
	*deviceRow
	Action string // revoke-certificates or unpair
	Valid  int    // certificates not yet revoked or expired
	CRL    string
}

// confirm renders the confirmation of action on d.
func (s *Server) confirm(w http.ResponseWriter, r *http.Request, v *viewer, d *store.Device, action, title string) error {
	row, err := s.deviceRow(r, v, d)
	if err != nil {
		return err
	}
	row.Owner = ""
	certs, err := s.cfg.Store.ListCertificates(r.Context(), d.ID)
	if err != nil {
		return err
	}
	page := &confirmPage{deviceRow: row, Action: action, CRL: s.cfg.FilesURL + "/ca/crl"}
	for _, c := range certs {
		if !c.Revoked() && s.cfg.Now().Before(c.NotAfter) {
			page.Valid++
		}
	}
	s.render(w, r, v, http.StatusOK, "confirm", title, page)
	return nil
}

// confirmed reports whether the form is the confirmation page's.
func confirmed(r *http.Request) bool { return r.PostForm.Get("confirm") == "yes" }

// postRevokeCertificates revokes the device's unexpired certificates and
// leaves the device paired, e.g. after its key leaked: its agent notices
// within a minute and gets a new one. It asks first.
func (s *Server) postRevokeCertificates(w http.ResponseWriter, r *http.Request, v *viewer) error {
	d, err := s.device(r, v)
	if err != nil {
		return err
	}
	if d.Status != store.StatusActive {
		return errStatus(http.StatusConflict, "This device is unpaired; its certificates are already revoked.")
	}
	if !confirmed(r) {
		return s.confirm(w, r, v, d, "revoke-certificates", "Revoke the certificates of "+d.Name+"?")
	}
	if _, err := devices.RevokeCertificates(r.Context(), s.cfg.Store, v.actorOf(), d.ID, s.cfg.Now()); err != nil {
		return err
	}
	http.Redirect(w, r, "/devices/"+d.ID+"?msg="+stockMsg("revoked", d), http.StatusSeeOther)
	return nil
}

// postUnpair ends the device, after asking.
func (s *Server) postUnpair(w http.ResponseWriter, r *http.Request, v *viewer) error {
	d, err := s.device(r, v)
	if err != nil {
		return err
	}
	if d.Status != store.StatusActive {
		return errStatus(http.StatusConflict, "This device is already unpaired.")
	}
	if !confirmed(r) {
		return s.confirm(w, r, v, d, "unpair", "Unpair "+d.Name+"?")
	}
	if _, err := devices.Unpair(r.Context(), s.cfg.Store, v.actorOf(), d.ID, s.cfg.Now()); err != nil {
		return err
	}
	http.Redirect(w, r, "/devices/"+d.ID+"?msg="+stockMsg("unpaired", d), http.StatusSeeOther)
	return nil
}

// stockMsg is the message key msg, or its stock-client variant for a
// device that has no agent.
func stockMsg(msg string, d *store.Device) string {
	if d.KeyThumbprint == "" {
		return msg + "-stock"
	}
	return msg
}

// postRemove takes an unpaired device off the device list.
func (s *Server) postRemove(w http.ResponseWriter, r *http.Request, v *viewer) error {
	d, err := s.device(r, v)
	if err != nil {
		return err
	}
	err = devices.Remove(r.Context(), s.cfg.Store, v.actorOf(), d.ID)
	if errors.Is(err, devices.ErrActive) {
		return errStatus(http.StatusConflict, "This device is still paired: unpair it first.")
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/?msg=removed", http.StatusSeeOther)
	return nil
}

// postNewEABKey gives a stock-client device a new EAB key and shows it
// once, with the client lines, as when the device was added.
func (s *Server) postNewEABKey(w http.ResponseWriter, r *http.Request, v *viewer) error {
	d, err := s.device(r, v)
	if err != nil {
		return err
	}
	c, err := devices.NewEABKeyFor(r.Context(), s.cfg.Store, v.actorOf(), s.cfg.Zone, d.ID, s.cfg.Now())
	if errors.Is(err, devices.ErrNotStock) || errors.Is(err, devices.ErrNotFound) {
		return errStatus(http.StatusConflict, "Only a paired stock-client device gets EAB keys.")
	}
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, v, http.StatusOK, "newdevice_done", "New EAB key", &newDoneDevicePage{
		Device: c.Device, Names: c.Names, Directory: s.cfg.Directory, KID: c.KID, HMACKey: c.HMACKey,
		Configs: s.clientConfigs(c), NewKey: true,
	})
	return nil
}

func (s *Server) postGrants(w http.ResponseWriter, r *http.Request, v *viewer) error {
	d, err := s.device(r, v)
	if err != nil {
		return err
	}
	origins, msg := parseOrigins(r.PostForm)
	if msg == "" && d.Status != store.StatusActive {
		msg = "This device is unpaired; it has no origins to allow."
	}
	if msg != "" {
		return s.renderDevice(w, r, v, d, &formError{field: "grants", msg: msg, value: r.PostForm.Get("origins")})
	}
	if _, err := devices.SetGrants(r.Context(), s.cfg.Store, v.actorOf(), d.ID, origins); err != nil {
		return err
	}
	http.Redirect(w, r, "/devices/"+d.ID+"?msg=grants", http.StatusSeeOther)
	return nil
}

type newDevicePage struct {
	Name  string
	Error string
}

func (s *Server) serveNewDevice(w http.ResponseWriter, r *http.Request, v *viewer) error {
	s.render(w, r, v, http.StatusOK, "newdevice", "Add a device for a stock ACME client", &newDevicePage{})
	return nil
}

// newDoneDevicePage shows a stock-client device's credentials, once.
type newDoneDevicePage struct {
	NewKey    bool // a new key for a device added earlier
	Device    *store.Device
	Names     []string
	Directory string
	KID       string
	HMACKey   string
	Configs   clientConfigs
}

func (s *Server) postNewDevice(w http.ResponseWriter, r *http.Request, v *viewer) error {
	name, msg := parseDeviceName(r.PostForm)
	if msg != "" {
		s.render(w, r, v, http.StatusBadRequest, "newdevice", "Add a device for a stock ACME client", &newDevicePage{Name: r.PostForm.Get("name"), Error: msg})
		return nil
	}
	c, err := devices.AddLimited(r.Context(), s.cfg.Store, s.cfg.Zone, v.owner.Name, name, s.cfg.MaxDevicesPerOwner, s.cfg.Now())
	if errors.Is(err, devices.ErrTooManyDevices) {
		s.render(w, r, v, http.StatusConflict, "newdevice", "Add a device for a stock ACME client", &newDevicePage{Name: name,
			Error: "You have as many devices as this issuer allows one owner. Unpair one you no longer use first."})
		return nil
	}
	if err != nil {
		return err
	}
	s.audit(r, c.Owner.ID, v.user.Name, "add", fmt.Sprintf("device %q (%s) for a stock ACME client", name, c.Device.Label))
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, v, http.StatusOK, "newdevice_done", "Device added", &newDoneDevicePage{
		Device: c.Device, Names: c.Names, Directory: s.cfg.Directory, KID: c.KID, HMACKey: c.HMACKey,
		Configs: s.clientConfigs(c),
	})
	return nil
}

// audit records an entry in ownerID's audit log, in a write of its own; a
// failure is logged, not shown: the work it records is done.
func (s *Server) audit(r *http.Request, ownerID, actor, action, detail string) {
	err := s.cfg.Store.Update(r.Context(), func(tx store.Tx) error {
		return devices.Audit(r.Context(), tx, ownerID, actor, action, detail)
	})
	if err != nil {
		s.cfg.Logger.Error("web: audit", "action", action, "err", err)
	}
}

type auditPage struct {
	Entries []auditRow
	Admin   bool
	Older   string // ID to list entries before, if there may be more
}

type auditRow struct {
	*store.AuditEntry
	Owner      string
	DeviceName string
}

const auditPageSize = 50

func (s *Server) serveAudit(w http.ResponseWriter, r *http.Request, v *viewer) error {
	es, err := devices.AuditLog(r.Context(), s.cfg.Store, v.actorOf(), r.URL.Query().Get("before"), auditPageSize)
	if err != nil {
		return err
	}
	page := &auditPage{Admin: v.admin()}
	owners, names := map[string]string{}, map[string]string{}
	for _, e := range es {
		row := auditRow{AuditEntry: e}
		if v.admin() && e.OwnerID != "" {
			if _, ok := owners[e.OwnerID]; !ok {
				if o, err := s.cfg.Store.GetOwner(r.Context(), e.OwnerID); err == nil {
					owners[e.OwnerID] = o.Name
				}
			}
			row.Owner = owners[e.OwnerID]
		}
		if e.DeviceID != "" {
			if _, ok := names[e.DeviceID]; !ok {
				if d, err := s.cfg.Store.GetDevice(r.Context(), e.DeviceID); err == nil {
					names[e.DeviceID] = d.Name
				}
			}
			row.DeviceName = names[e.DeviceID]
		}
		page.Entries = append(page.Entries, row)
	}
	if len(es) == auditPageSize {
		page.Older = es[len(es)-1].ID
	}
	s.render(w, r, v, http.StatusOK, "audit", "Audit log", page)
	return nil
}

// auditFailedLogin records a wrong password for an existing user in the
// user's owner's audit log and, when it was the failure that locks the
// user out, the lockout. Unknown names are only logged: the failure
// limits bound these writes to the per-user limit's count.
func (s *Server) auditFailedLogin(r *http.Request, name, source string) {
	u, err := s.cfg.Store.GetUserByName(r.Context(), name)
	if err != nil {
		return
	}
	s.audit(r, u.OwnerID, u.Name, devices.AuditLoginFailed, "wrong password from "+source)
	lim := s.cfg.LoginFailuresPerUser
	if err := lim.Check(r.Context(), s.cfg.Store, name, s.cfg.Now()); problem.Is(err, problem.RateLimited) {
		s.audit(r, u.OwnerID, u.Name, devices.AuditLockout,
			fmt.Sprintf("password logins refused for a while after %d wrong passwords", lim.Count))
	}
}
