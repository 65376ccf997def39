package web

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/doctor"
	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
)

// nameFilter is the device's report that its own names do not resolve
// through its resolver, with the fix.
type nameFilter struct {
	Filtered bool   // an answer without the address: a DNS-rebind filter
	Name     string // the address-name the device asked for
	Detail   string
	At       time.Time
	Zone     string
	Settings []doctor.Setting
}

// shortNameRow fills the row's short name, its link and the device's name
// check.
func (s *Server) shortNameRow(row *deviceRow, n store.ShortName, check store.NameCheck) {
	row.Zone, row.ShortNames, row.MDNSNames = s.cfg.Zone, s.cfg.ShortNames, s.cfg.MDNSNames
	row.ShortName, row.ShortMDNS = n.Name, n.MDNS
	if n.Name != "" && s.cfg.ShortNames && row.Active {
		row.ShortURL = "https://" + n.Name + "." + s.cfg.Zone + "/"
	}
	if row.Active && (check.Result == store.NameCheckFiltered || check.Result == store.NameCheckFailed) {
		row.NameFilter = &nameFilter{
			Filtered: check.Result == store.NameCheckFiltered,
			Name:     check.Name, Detail: check.Detail, At: check.At,
			Zone: s.cfg.Zone, Settings: doctor.RebindSettings(s.cfg.Zone),
		}
	}
}

// postShortName gives the device a short name (tv: https://tv.ZONE/),
// with .local too where asked and the CA permits it, or removes it.
func (s *Server) postShortName(w http.ResponseWriter, r *http.Request, v *viewer) error {
	d, err := s.device(r, v)
	if err != nil {
		return err
	}
	if !s.cfg.ShortNames {
		return s.renderDevice(w, r, v, d, &formError{field: "short", msg: "This issuer's signer cannot put short names in certificates."})
	}
	name := strings.TrimSpace(r.PostForm.Get("short"))
	mdns := s.cfg.MDNSNames && r.PostForm.Get("mdns") == "on"
	err = devices.SetShortName(r.Context(), s.cfg.Store, v.actorOf(), d.ID, name, mdns)
	var p *problem.Error
	switch {
	case errors.Is(err, devices.ErrShortNameTaken):
		return s.renderDevice(w, r, v, d, &formError{field: "short", value: name,
			msg: name + "." + s.cfg.Zone + " belongs to another device. Choose another name."})
	case errors.As(err, &p):
		_, err := names.ParseShortName(name)
		msg := "Use one word of letters, digits and single hyphens, such as tv or living-room."
		if err != nil && strings.Contains(err.Error(), "reserved") {
			msg = "That name is reserved for the hub. " + msg
		}
		return s.renderDevice(w, r, v, d, &formError{field: "short", msg: msg, value: name})
	case err != nil:
		return err
	}
	http.Redirect(w, r, "/devices/"+d.ID+"?msg=short-name", http.StatusSeeOther)
	return nil
}
