package storetest

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/lantls/lantls/store"
)

// testDeviceSummaries checks the device list's one query: each device
// with its owner's name, its certificates counted (revoked too) and dated
// (unrevoked only), its status, short name and DNS data; newest first,
// paged, by owner or one device, removed devices left out unless asked.
func testDeviceSummaries(t *testing.T, s store.Store) {
	ctx := t.Context()
	fx := newFixture(t, s, "sum")
	// Two more devices of the same owner, made later, and one of another.
	var later []*store.Device
	for i, name := range []string{"sum-2", "sum-3"} {
		d := &store.Device{ID: "dev-" + name, Label: "label-" + name, OwnerID: fx.owner.ID, Name: name,
			Status: store.StatusActive, CreatedAt: base.Add(time.Duration(i+1) * time.Minute)}
		if err := s.CreateDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
		later = append(later, d)
	}
	other := newFixture(t, s, "sum-other")

	o := mustOrder(t, s, fx.account, "order-sum", store.StatusValid, base)
	old := makeCertificate(o, "5a", base.Add(10*24*time.Hour))
	old.CreatedAt = base.Add(time.Second)
	cur := makeCertificate(o, "5b", base.Add(40*24*time.Hour))
	cur.CreatedAt = base.Add(2 * time.Second)
	gone := makeCertificate(o, "5c", base.Add(90*24*time.Hour))
	gone.CreatedAt = base.Add(3 * time.Second)
	gone.RevokedAt = base.Add(time.Hour)
	for _, c := range []*store.Certificate{old, cur, gone} {
		if err := s.CreateCertificate(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	report := &store.DeviceStatus{DeviceID: fx.device.ID, LastError: "renewal failed", At: base.Add(time.Minute)}
	if err := s.SetDeviceStatus(ctx, report); err != nil {
		t.Fatal(err)
	}
	check := store.NameCheck{Result: store.NameCheckFiltered, Name: "x", Detail: "rebind", At: base.Add(2 * time.Minute)}
	if err := s.SetDeviceNameCheck(ctx, fx.device.ID, check); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDeviceShortName(ctx, fx.device.ID, store.ShortName{Name: "sumtv", MDNS: true}); err != nil {
		t.Fatal(err)
	}
	addrs := []netip.Addr{netip.MustParseAddr("192.168.1.20"), netip.MustParseAddr("fd00::1")}
	if err := s.SetDeviceAddresses(ctx, fx.device.ID, addrs); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDevicePublish(ctx, fx.device.ID, store.Publish("on")); err != nil {
		t.Fatal(err)
	}

	mine := store.DeviceSummaryFilter{OwnerID: fx.owner.ID}
	got, err := s.ListDeviceSummaries(ctx, mine)
	if err != nil {
		t.Fatalf("ListDeviceSummaries: %v", err)
	}
	if ids := summaryIDs(got); !slices.Equal(ids, []string{later[1].ID, later[0].ID, fx.device.ID}) {
		t.Fatalf("one owner's devices: %v, want newest first", ids)
	}
	d := got[2]
	want := store.DeviceSummary{Device: *fx.device, OwnerName: fx.owner.Name, Certificates: 3,
		CertExpiry: cur.NotAfter, LastIssued: cur.CreatedAt, ShortName: store.ShortName{Name: "sumtv", MDNS: true},
		Publish: store.Publish("on")}
	gotStatus, gotAddrs := d.Reported, d.Addresses
	d.Reported, d.Addresses = store.DeviceStatus{}, nil
	equal(t, "summary", d, normalized(&want))
	if !slices.Equal(gotAddrs, addrs) {
		t.Errorf("summary addresses %v, want %v", gotAddrs, addrs)
	}
	if gotStatus.LastError != report.LastError || !gotStatus.At.Equal(report.At) || gotStatus.UpdatedAt.IsZero() ||
		gotStatus.NameCheck.Result != check.Result || gotStatus.NameCheck.Detail != check.Detail || !gotStatus.NameCheck.At.Equal(normTime(check.At)) {
		t.Errorf("summary status %+v, want the report %+v and the check %+v", gotStatus, report, check)
	}
	if n := got[0]; n.Certificates != 0 || !n.CertExpiry.IsZero() || n.Addresses != nil || n.ShortName != (store.ShortName{}) || n.Reported.LastError != "" {
		t.Errorf("a device with nothing yet: %+v", n)
	}

	// Pages: two, then the rest after the last of them.
	mine.Limit = 2
	page, err := s.ListDeviceSummaries(ctx, mine)
	if err != nil || !slices.Equal(summaryIDs(page), []string{later[1].ID, later[0].ID}) {
		t.Fatalf("first page: %v, %v", summaryIDs(page), err)
	}
	mine.Before = page[1].ID
	page, err = s.ListDeviceSummaries(ctx, mine)
	if err != nil || !slices.Equal(summaryIDs(page), []string{fx.device.ID}) {
		t.Fatalf("second page: %v, %v", summaryIDs(page), err)
	}

	// Every owner's; one device; a removed device only when asked.
	all, err := s.ListDeviceSummaries(ctx, store.DeviceSummaryFilter{})
	if err != nil || !slices.Contains(summaryIDs(all), other.device.ID) || len(all) < 4 {
		t.Errorf("every owner's devices: %v, %v", summaryIDs(all), err)
	}
	one, err := s.ListDeviceSummaries(ctx, store.DeviceSummaryFilter{ID: other.device.ID})
	if err != nil || !slices.Equal(summaryIDs(one), []string{other.device.ID}) || one[0].OwnerName != other.owner.Name {
		t.Errorf("one device: %v, %v", summaryIDs(one), err)
	}
	later[0].Status = store.StatusRemoved
	if err := s.UpdateDevice(ctx, later[0]); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ListDeviceSummaries(ctx, store.DeviceSummaryFilter{OwnerID: fx.owner.ID}); slices.Contains(summaryIDs(got), later[0].ID) {
		t.Errorf("a removed device is listed")
	}
	if got, _ := s.ListDeviceSummaries(ctx, store.DeviceSummaryFilter{OwnerID: fx.owner.ID, Removed: true}); !slices.Contains(summaryIDs(got), later[0].ID) {
		t.Errorf("a removed device is left out when asked for")
	}
	if got, err := s.ListDeviceSummaries(ctx, store.DeviceSummaryFilter{OwnerID: "nobody"}); err != nil || got == nil || len(got) != 0 {
		t.Errorf("no devices: %v, %v; want an empty list", got, err)
	}
}

func summaryIDs(ds []*store.DeviceSummary) []string {
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	return ids
}
