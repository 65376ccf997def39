package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/lantls/lantls/issuer"
	"github.com/lantls/lantls/issuer/issuertest"
	"github.com/lantls/lantls/store"
)

// addStock adds a device for a stock ACME client through the UI and
// returns its page.
func addStock(t *testing.T, b *browser, name string) string {
	t.Helper()
	b.want(b.post("/devices/new", url.Values{"name": {name}}), http.StatusOK, name+" is ready")
	m := regexp.MustCompile(`href="(/devices/[A-Za-z0-9]+)"`).FindStringSubmatch(b.last)
	if m == nil {
		t.Fatalf("no device page link after adding %s", name)
	}
	return m[1]
}

// TestShortName gives a device a short name on its page: the page links
// https://tv.ZONE/, a second device cannot take it, a bad name is refused
// with what to type, and removing it frees it.
func TestShortName(t *testing.T) {
	t.Parallel()
	f := start(t)
	f.addUser(t, "alice", store.RoleOwner)
	b := f.browser(t)
	b.login("alice")
	tv := addStock(t, b, "Hall TV")
	nas := addStock(t, b, "Hall NAS")

	b.want(b.get(tv), http.StatusOK, "Short name", `action="`+tv+`/short-name"`)
	b.want(b.post(tv+"/short-name", url.Values{"short": {"TV"}}), http.StatusOK, "The short name is saved", `href="https://tv.lan.test/"`)
	b.want(b.get("/"), http.StatusOK, `href="https://tv.lan.test/"`)
	b.want(b.post(nas+"/short-name", url.Values{"short": {"tv"}}), http.StatusBadRequest, "tv.lan.test belongs to another device", `value="tv"`)
	b.want(b.post(nas+"/short-name", url.Values{"short": {"my nas"}}), http.StatusBadRequest, "Use one word of letters, digits and single hyphens")
	b.want(b.post(nas+"/short-name", url.Values{"short": {"hub"}}), http.StatusBadRequest, "reserved for the hub")
	b.want(b.post(tv+"/short-name", url.Values{"short": {""}}), http.StatusOK, "The short name is saved")
	b.want(b.post(nas+"/short-name", url.Values{"short": {"tv"}}), http.StatusOK, "The short name is saved", `href="https://tv.lan.test/"`)
}

// TestNameFilterWarning shows the device's report that its router filters
// its names, with the fix, on the device page and the device list.
func TestNameFilterWarning(t *testing.T) {
	t.Parallel()
	f := start(t)
	f.addUser(t, "alice", store.RoleOwner)
	b := f.browser(t)
	b.login("alice")
	page := addStock(t, b, "Hall TV")
	b.want(b.get(page), http.StatusOK)
	id := page[len("/devices/"):]
	check := store.NameCheck{Result: store.NameCheckFiltered, Name: "192-168-1-20.x.lan.test", Detail: "an answer with no address", At: time.Now()}
	if err := f.iss.Store().SetDeviceNameCheck(t.Context(), id, check); err != nil {
		t.Fatal(err)
	}
	b.want(b.get(page), http.StatusOK, "Your router filters these names", "192-168-1-20.x.lan.test", "rebind-domain-ok=/lan.test/", "Fritz!Box", "lantls doctor")
	b.want(b.get("/"), http.StatusOK, "Your router filters these names", `href="`+page+`#name-filter"`)
	check.Result = store.NameCheckOK
	if err := f.iss.Store().SetDeviceNameCheck(t.Context(), id, check); err != nil {
		t.Fatal(err)
	}
	b.want(b.get(page), http.StatusOK)
	if regexp.MustCompile("Your router filters").MatchString(b.last) {
		t.Error("the warning stays after the device reported its names resolve")
	}
}

// TestShortNameLocal checks .local names: offered only by an issuer whose
// root was made to permit local, saved per device, and the device's next
// certificate carries tv.local beside tv.ZONE.
func TestShortNameLocal(t *testing.T) {
	t.Parallel()
	f := start(t)
	f.addUser(t, "alice", store.RoleOwner)
	b := f.browser(t)
	b.login("alice")
	page := addStock(t, b, "Hall TV")
	b.want(b.get(page), http.StatusOK, `name="short"`)
	if regexp.MustCompile(`name="mdns"`).MatchString(b.last) {
		t.Error("an issuer whose root does not permit local offers .local names")
	}
	// A posted mdns=on is ignored there.
	b.want(b.post(page+"/short-name", url.Values{"short": {"tv"}, "mdns": {"on"}}), http.StatusOK, "The short name is saved")
	if n, _ := f.iss.Store().GetDeviceShortName(t.Context(), page[len("/devices/"):]); n.MDNS {
		t.Error("mdns saved where the root does not permit local")
	}

	iss, roots := issuertest.Start(t, issuer.Config{Hostnames: []string{"localhost"}, CAPermit: []string{"local"}})
	u, _ := url.Parse(iss.Info().BaseURL)
	lf := &fixture{iss: iss, roots: roots, base: "https://localhost:" + u.Port(), ip: iss.Info().BaseURL}
	lf.addUser(t, "alice", store.RoleOwner)
	lb := lf.browser(t)
	lb.login("alice")
	d := newDevice(t, lf)
	d.start()
	approveInBrowser(t, lb, d, "approve")
	dev, err := iss.Store().GetDeviceByLabel(t.Context(), d.label())
	if err != nil {
		t.Fatal(err)
	}
	lb.want(lb.get("/devices/"+dev.ID), http.StatusOK, `name="mdns"`, "NAME.local")
	lb.want(lb.post("/devices/"+dev.ID+"/short-name", url.Values{"short": {"tv"}, "mdns": {"on"}}), http.StatusOK, "The short name is saved", "tv.local")
	_, leaf := d.collectAndIssue()
	if !slices.Contains(leaf.DNSNames, "tv.lan.test") || !slices.Contains(leaf.DNSNames, "tv.local") {
		t.Errorf("certificate names %q, want tv.lan.test and tv.local", leaf.DNSNames)
	}
}
