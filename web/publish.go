package web

import (
	"net/http"

	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/store"
)

// postPublish sets whether the device's name L.Z answers with its
// addresses in the issuer's DNS: the zone's default, on or off.
func (s *Server) postPublish(w http.ResponseWriter, r *http.Request, v *viewer) error {
	d, err := s.device(r, v)
	if err != nil {
		return err
	}
	choices := map[string]store.Publish{"default": store.PublishDefault, "on": store.PublishOn, "off": store.PublishOff}
	p, ok := choices[r.PostForm.Get("publish")]
	if !ok {
		return s.renderDevice(w, r, v, d, &formError{field: "publish", msg: "Choose the zone's default, on or off."})
	}
	if err := devices.SetPublish(r.Context(), s.cfg.Store, v.actorOf(), d.ID, p); err != nil {
		return err
	}
	http.Redirect(w, r, "/devices/"+d.ID+"?msg=publish", http.StatusSeeOther)
	return nil
}
