package acme_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/store"
)

// TestAuditIssueAndRevoke checks that an issuance and a revocation each
// leave one entry in the device owner's audit log.
func TestAuditIssueAndRevoke(t *testing.T) {
	h := newHarness(t)
	dev := h.newDevice("")
	c := h.account(dev)
	_, chain := h.issue(c, dev.name(""))
	res, err := c.Post(h.ctx, c.Dir.RevokeCert, map[string]any{"certificate": b64(chain[0].Raw), "reason": 1})
	if err != nil || res.Status != http.StatusOK {
		t.Fatalf("revoke: %v %v", res, err)
	}
	log, err := h.store.ListAudit(h.ctx, store.AuditFilter{OwnerID: h.owner.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 2 || log[1].Action != devices.AuditIssue || log[0].Action != devices.AuditRevoke {
		t.Fatalf("audit log = %+v, want an issue then a revoke", log)
	}
	for _, e := range log {
		if e.DeviceID != dev.ID || !strings.HasPrefix(e.Actor, "acme account ") || !strings.Contains(e.Detail, strings.TrimLeft(chain[0].SerialNumber.Text(16), "0")) {
			t.Errorf("audit entry %+v", e)
		}
	}
}
