package agent

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lantls/lantls/internal/testwait"
	"github.com/lantls/lantls/store"
)

// TestReportsFailureAndClear checks, against the real issuer, that a
// failed renewal shows in the store as the device's last error and that
// the next success clears it.
func TestReportsFailureAndClear(t *testing.T) {
	t.Parallel()
	ti := newTestIssuer(t)
	a, err := New(ti.config(DirStorage(t.TempDir())))
	if err != nil {
		t.Fatal(err)
	}
	runAgent(t, a)
	ti.approve(a)
	waitReady(t, a)

	ctx := context.Background()
	st := ti.iss.Store()
	d, err := st.GetDeviceByLabel(ctx, a.credentials().Label)
	if err != nil {
		t.Fatal(err)
	}
	accts, err := st.ListAccountsByDevice(ctx, d.ID)
	if err != nil || len(accts) != 1 {
		t.Fatalf("accounts: %v, %v", accts, err)
	}
	setAccount := func(s store.Status) {
		t.Helper()
		acct := accts[0]
		acct.Status = s
		if err := st.UpdateAccount(ctx, acct); err != nil {
			t.Fatal(err)
		}
	}
	waitStatus := func(what string, ok func(*store.DeviceStatus) bool) *store.DeviceStatus {
		t.Helper()
		var s *store.DeviceStatus
		if !testwait.Until(20*time.Second, func() bool {
			var err error
			if s, err = st.GetDeviceStatus(ctx, d.ID); err != nil {
				t.Fatal(err)
			}
			return ok(s)
		}) {
			t.Fatalf("stored status %+v, agent status %+v: want %s", s, a.Status(), what)
		}
		return s
	}

	// With its account deactivated the device cannot order: the renewal
	// fails, and the failure reaches the issuer.
	setAccount(store.StatusDeactivated)
	a.RenewNow()
	failed := waitStatus("the failed renewal", func(s *store.DeviceStatus) bool {
		return strings.HasPrefix(s.LastError, "renew certificate: ")
	})
	if got := a.Status(); got.Failures == 0 || got.LastError == "" || got.ReportFailures != 0 {
		t.Errorf("agent status after the failure: %+v", got)
	}

	// Once it can order again, the next renewal clears it.
	serial := a.Certificate().Leaf.SerialNumber
	setAccount(store.StatusValid)
	a.RenewNow()
	cleared := waitStatus("the error cleared", func(s *store.DeviceStatus) bool { return s.LastError == "" })
	if cleared.At.Before(failed.At) {
		t.Errorf("cleared at %v, before the failure at %v", cleared.At, failed.At)
	}
	if a.Certificate().Leaf.SerialNumber.Cmp(serial) == 0 {
		t.Error("the error was cleared without a new certificate")
	}
}

// TestReportToOlderIssuer checks that an issuer without the status
// endpoint (404) is no report failure, and that one that fails is counted.
func TestReportToOlderIssuer(t *testing.T) {
	t.Parallel()
	var code atomic.Int32
	code.Store(http.StatusNotFound)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut || r.URL.Path != "/api/v1/device/status" || r.Header.Get("Authorization") != "Bearer tok" {
			t.Errorf("%s %s %q", r.Method, r.URL.Path, r.Header.Get("Authorization"))
		}
		w.WriteHeader(int(code.Load()))
	}))
	t.Cleanup(srv.Close)
	a, err := New(Config{Issuer: srv.URL, Storage: DirStorage(t.TempDir())})
	if err != nil {
		t.Fatal(err)
	}
	a.httpc = srv.Client()
	a.state.creds = &credentials{Issuer: srv.URL, Token: "tok"}
	x := "x"
	r := &statusReport{LastError: &x, At: time.Now()}
	if err := a.sendStatus(t.Context(), r); err != nil {
		t.Errorf("404: %v, want no error", err)
	}
	code.Store(http.StatusInternalServerError)
	if err := a.sendStatus(t.Context(), r); err == nil {
		t.Error("500: no error")
	}
}
