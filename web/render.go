package web

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/lantls/lantls/names"
)

// pageNames are the templates under templates/, each rendered inside
// layout.html.
var pageNames = []string{
	"error", "login", "setup", "trust", "devices", "device", "newdevice", "newdevice_done",
	"code", "approve", "audit", "account", "confirm", "attest",
}

var funcs = template.FuncMap{
	"date": fmtDate,
	"day": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2 Jan 2006")
	},
	"join": strings.Join,
	// plural is "1 certificate" or "N certificates".
	"plural": func(n int, one, many string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %s", n, many)
	},
	// groups splits a label into groups of four for reading aloud, as
	// the device shows it.
	"groups": names.Grouped,
}

// fmtDate is how pages show a time; "—" for none.
func fmtDate(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2 Jan 2006 15:04 UTC")
}

func parsePages() (map[string]*template.Template, error) {
	pages := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// view is what every template gets: the common frame and the page's own
// data in Page.
type view struct {
	Title       string
	User        string
	Admin       bool
	CSRF        string
	Nav         string // which navigation entry is current
	ReachedByIP bool   // passkeys need the host name
	RPURL       string
	Passkeys    bool // passkeys are configured
	Pairing     bool // the pairing pages exist
	Msg         string
	Page        any
}

// messages are the notes a redirect may ask a page to show (?msg=...);
// only these fixed texts, never text from the request.
var messages = map[string]string{
	"renamed":        "The device was renamed.",
	"revoked":        "Its certificates are revoked. The device stays paired: its agent gets a new certificate within a minute.",
	"revoked-stock":  "Its certificates are revoked. The device stays paired: run its ACME client's renewal to get a new certificate.",
	"unpaired":       "The device is unpaired: its certificates are revoked and its names are gone from DNS. Its agent finds out within a minute and stops serving the revoked certificate.",
	"unpaired-stock": "The device is unpaired: its certificates are revoked, its names are gone from DNS and its ACME client can get no more. Remove the client's renewal timer on that machine.",
	"removed":        "The device is removed from the list. Its history stays in the audit log.",
	"grants":         "The allowed origins are saved.",
	"publish":        "The DNS choice is saved; it shows within a second.",
	"short-name":     "The short name is saved. The DNS answers it within a second; the device's next certificate carries it (the lantls agent renews within a minute).",
	"password":       "Your password is changed. Other sessions were logged out.",
	"passkey":        "The passkey is registered. You can log in with it now.",
	"nopasskey":      "The passkey is removed.",
	"approved":       "The device is approved. It picks up its certificate within seconds.",
	"denied":         "The pairing was denied. The device was told so.",
	"setup":          "Your account is ready.",
	"attest-rule":    "The attestation rule is saved; it applies to the next order of each device of that model.",
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, v *viewer, status int, name, title string, page any) {
	t, ok := s.pages[name]
	if !ok {
		http.Error(w, "no page "+name, http.StatusInternalServerError)
		return
	}
	data := view{
		Title:       title,
		CSRF:        v.csrf,
		Nav:         name,
		ReachedByIP: s.webauthn != nil && hostIsIP(r) && s.rpReachable(r),
		Passkeys:    s.webauthn != nil,
		Pairing:     s.cfg.Pairing != nil,
		Msg:         messages[r.URL.Query().Get("msg")],
		Page:        page,
	}
	if s.webauthn != nil {
		data.RPURL = s.rpURL(r)
	}
	if v.user != nil {
		data.User, data.Admin = v.user.Name, v.admin()
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		s.cfg.Logger.Error("web: render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
