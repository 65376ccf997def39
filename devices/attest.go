package devices

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/lantls/lantls/store"
)

// AuditAttestRule is the audit action of a change to the attestation rule
// of a device model; it goes to the issuer's own log.
const AuditAttestRule = "attest-rule"

// ErrNotAdmin is returned when an actor who is not an admin tries what
// only admins may do.
var ErrNotAdmin = errors.New("only an admin may do this")

// RuleDefault, given to SetAttestRule, removes a model's rule: the model
// is then optional on an issuer with attestation roots and off on one
// without.
const RuleDefault = "default"

// SetAttestRule sets whether devices of model must attest their key
// (store.AttestRequired), may (AttestOptional) or may not (AttestOff);
// RuleDefault removes the rule. Only an admin may; the change is audited
// in the issuer's own log.
func SetAttestRule(ctx context.Context, st store.Store, a Actor, model, rule string) error {
	if !a.Admin {
		return ErrNotAdmin
	}
	if len(model) > 200 || !utf8.ValidString(model) || strings.ContainsFunc(model, func(r rune) bool { return r < ' ' }) {
		return errors.New("set attestation rule: the model must be at most 200 printable characters")
	}
	r := store.AttestRule(rule)
	if rule != RuleDefault && !r.Valid() {
		return fmt.Errorf("set attestation rule: %q is not a rule; want required, optional, off or default", rule)
	}
	return st.Update(ctx, func(tx store.Tx) error {
		var err error
		if rule == RuleDefault {
			err = tx.DeleteAttestPolicy(ctx, model)
		} else {
			err = tx.SetAttestPolicy(ctx, &store.AttestPolicy{Model: model, Rule: r, Actor: a.Name})
		}
		if err != nil {
			return err
		}
		return Audit(ctx, tx, "", a.Name, AuditAttestRule, fmt.Sprintf("model %q: %s", model, rule))
	})
}

// AttestRules returns every model's rule, by model.
func AttestRules(ctx context.Context, st store.Store) ([]*store.AttestPolicy, error) {
	ps, err := st.ListAttestPolicies(ctx)
	if err != nil {
		return nil, fmt.Errorf("list attestation rules: %w", err)
	}
	return ps, nil
}

// Attestation returns the last attestation of the device with ID id, if
// the actor may see the device; nil if it never attested.
func Attestation(ctx context.Context, st store.Store, a Actor, id string) (*store.DeviceAttestation, error) {
	if _, err := Get(ctx, st, a, id); err != nil {
		return nil, err
	}
	at, err := st.GetDeviceAttestation(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get attestation: %w", err)
	}
	return at, nil
}
