package web

import (
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"strings"

	"rsc.io/qr"

	"github.com/lantls/lantls/ca/local"
	"github.com/lantls/lantls/trust"
)

// MobileConfigPath is where the UI serves the root as an Apple
// configuration profile.
const MobileConfigPath = "/trust/lantls-root.mobileconfig"

type trustPage struct {
	local.Description
	NotAfter string
	// QR is a data: URL of a PNG of the fingerprint, for comparing it on
	// a phone.
	QR template.URL
	// Command installs the root on Linux (and macOS) from the issuer's
	// plain HTTP address, checked against the fingerprint.
	Command      string
	MobileConfig string
}

// serveTrust explains how to trust the root: what it permits, word for
// word from the certificate, its fingerprint as text and QR code, the
// downloads (.crt, .pem, .mobileconfig) and the steps per system. It is
// open to visitors: the root is public, and a device owner needs it
// before the browser trusts the issuer itself.
func (s *Server) serveTrust(w http.ResponseWriter, r *http.Request) {
	v, err := s.viewerOf(w, r)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	d := local.Describe(s.cfg.Root)
	page := &trustPage{
		Description:  d,
		NotAfter:     s.cfg.Root.NotAfter.UTC().Format("2 Jan 2006"),
		Command:      "sudo lantls trust install --issuer " + s.cfg.FilesURL + " --fingerprint " + strings.ReplaceAll(d.Fingerprint, ":", ""),
		MobileConfig: MobileConfigPath,
	}
	if c, err := qr.Encode("SHA256:"+d.Fingerprint, qr.M); err == nil {
		page.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(c.PNG()))
	}
	s.render(w, r, v, http.StatusOK, "trust", "Trust this issuer", page)
}

// fingerprint is the SHA-256 of der as colon-separated hex, the way
// browsers and certutil show it.
func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return local.Fingerprint(sum[:])
}

// serveMobileConfig serves the root as an Apple configuration profile.
func (s *Server) serveMobileConfig(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", trust.MobileConfigType)
	w.Header().Set("Content-Disposition", `attachment; filename="lantls-root.mobileconfig"`)
	w.Write(trust.MobileConfig(s.cfg.Root))
}
