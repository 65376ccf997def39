package devices

import (
	"errors"
	"testing"

	"github.com/lantls/lantls/store"
)

func TestSetAttestRule(t *testing.T) {
	st := openStore(t)
	ctx := t.Context()
	owner := Actor{OwnerID: "o", Name: "alice"}
	if err := SetAttestRule(ctx, st, owner, "tv", "required"); !errors.Is(err, ErrNotAdmin) {
		t.Errorf("an owner set a rule: %v", err)
	}
	admin := Actor{Name: "root", Admin: true}
	for _, bad := range []struct{ model, rule string }{{"tv", "sometimes"}, {"tv\n", "off"}} {
		if err := SetAttestRule(ctx, st, admin, bad.model, bad.rule); err == nil {
			t.Errorf("SetAttestRule(%q, %q) succeeded", bad.model, bad.rule)
		}
	}
	if err := SetAttestRule(ctx, st, admin, "tv", "required"); err != nil {
		t.Fatal(err)
	}
	rules, err := AttestRules(ctx, st)
	if err != nil || len(rules) != 1 || rules[0].Rule != store.AttestRequired || rules[0].Actor != "root" {
		t.Fatalf("rules: %v, %v", rules, err)
	}
	if err := SetAttestRule(ctx, st, admin, "tv", RuleDefault); err != nil {
		t.Fatal(err)
	}
	if rules, _ := AttestRules(ctx, st); len(rules) != 0 {
		t.Errorf("default left a rule: %v", rules)
	}
	log, err := st.ListAudit(ctx, store.AuditFilter{})
	if err != nil || len(log) != 2 || log[0].Action != AuditAttestRule || log[0].Detail != `model "tv": default` {
		t.Errorf("audit: %v %v", log, err)
	}
}
