package web

import (
	"net/http"
	"slices"

	"github.com/lantls/lantls/attest"
	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/store"
)

// attestPage is the admin's page of device attestation
// (draft-ietf-acme-device-attest): the roots the issuer trusts and the
// rule of each device model.
type attestPage struct {
	Roots  []attestRoot
	Rules  []*store.AttestPolicy
	Models []string // models of the devices here, for the form's list
	// Default is what a model without a rule gets.
	Default store.AttestRule
	// Error is the form's problem; Model and Rule what was sent.
	Error, Model, Rule string
}

type attestRoot struct {
	Subject, Fingerprint string
}

// serveAttest shows the attestation rules; admins only.
func (s *Server) serveAttest(w http.ResponseWriter, r *http.Request, v *viewer) error {
	return s.renderAttest(w, r, v, http.StatusOK, &attestPage{})
}

// postAttest sets the rule of a model; admins only.
func (s *Server) postAttest(w http.ResponseWriter, r *http.Request, v *viewer) error {
	if !v.admin() {
		return errNotFound
	}
	model, rule := r.PostForm.Get("model"), r.PostForm.Get("rule")
	switch rule {
	case string(store.AttestRequired), string(store.AttestOptional), string(store.AttestOff), devices.RuleDefault:
	default:
		return s.renderAttest(w, r, v, http.StatusBadRequest, &attestPage{Error: "Choose required, optional, off or default.", Model: model})
	}
	if err := devices.SetAttestRule(r.Context(), s.cfg.Store, v.actorOf(), model, rule); err != nil {
		return s.renderAttest(w, r, v, http.StatusBadRequest, &attestPage{
			Error: "The model must be at most 200 printable characters.", Model: model, Rule: rule})
	}
	http.Redirect(w, r, "/attest?msg=attest-rule", http.StatusSeeOther)
	return nil
}

func (s *Server) renderAttest(w http.ResponseWriter, r *http.Request, v *viewer, status int, page *attestPage) error {
	if !v.admin() {
		return errNotFound
	}
	ctx := r.Context()
	var err error
	if page.Rules, err = devices.AttestRules(ctx, s.cfg.Store); err != nil {
		return err
	}
	ds, err := devices.List(ctx, s.cfg.Store, v.actorOf())
	if err != nil {
		return err
	}
	for _, d := range ds {
		if d.Model != "" && !slices.Contains(page.Models, d.Model) {
			page.Models = append(page.Models, d.Model)
		}
	}
	slices.Sort(page.Models)
	page.Default = store.AttestOff
	if len(s.cfg.AttestRoots) > 0 {
		page.Default = store.AttestOptional
	}
	for _, c := range s.cfg.AttestRoots {
		page.Roots = append(page.Roots, attestRoot{Subject: c.Subject.String(), Fingerprint: attest.Fingerprint(c)})
	}
	s.render(w, r, v, status, "attest", "Device attestation", page)
	return nil
}
