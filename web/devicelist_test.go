package web_test

import (
	"fmt"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/store"
)

// The device list reads a page of devices in one query and pages: the
// newest devicesPageSize first, then the older ones after a link.
func TestDeviceListPages(t *testing.T) {
	t.Parallel()
	f := start(t)
	f.addUser(t, "alice", store.RoleOwner)
	now := time.Now()
	const pageSize = 50 // the list's page size (devicesPageSize)
	const total = pageSize + 2
	for i := range total {
		// Made a millisecond apart, so that newest first is by number.
		if _, err := devices.Add(t.Context(), f.iss.Store(), "lan.test", "alice", fmt.Sprintf("Device %03d", i), now.Add(time.Duration(i)*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	b := f.browser(t)
	b.login("alice")
	b.want(b.get("/"), http.StatusOK, "Device 051", "Device 002", "Older devices")
	if strings.Contains(b.last, "Device 001") || strings.Contains(b.last, "Device 000") {
		t.Errorf("the first page shows more than %d devices", pageSize)
	}
	if i, j := strings.Index(b.last, "Device 051"), strings.Index(b.last, "Device 002"); i > j {
		t.Errorf("the first page is not newest first")
	}
	m := regexp.MustCompile(`href="(/\?before=[^"]+)"`).FindStringSubmatch(b.last)
	if m == nil {
		t.Fatal("no link to the older devices")
	}
	b.want(b.get(html.UnescapeString(m[1])), http.StatusOK, "Device 001", "Device 000")
	if strings.Contains(b.last, "Device 002") || strings.Contains(b.last, "Older devices") {
		t.Errorf("the second page repeats the first or links further")
	}
}
