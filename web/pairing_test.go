package web_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/crypto/acme"

	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/pairing"
	"github.com/lantls/lantls/store"
)

// device is the device side of a pairing: its account key and an HTTP
// client that trusts the issuer's root.
type device struct {
	t    *testing.T
	f    *fixture
	key  *ecdsa.PrivateKey
	c    *http.Client
	auth pairing.AuthorizationResponse
	// model and hostname are what the device reports.
	model, hostname string
}

func newDevice(t *testing.T, f *fixture) *device {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &device{t: t, f: f, key: key, model: "Aurora TV 55", hostname: "livingroom-tv", c: &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.roots}}}}
}

func (d *device) post(path string, form url.Values, out any) int {
	d.t.Helper()
	resp, err := d.c.PostForm(d.f.ip+path, form)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, out); err != nil {
		d.t.Fatalf("POST %s: %s %q: %v", path, resp.Status, body, err)
	}
	return resp.StatusCode
}

// start asks to pair (RFC 8628 section 3.1).
func (d *device) start() {
	d.t.Helper()
	jwk, _ := json.Marshal(&jose.JSONWebKey{Key: &d.key.PublicKey})
	status := d.post("/pair/device_authorization", url.Values{
		"client_id": {"lantls-agent"}, "public_key": {string(jwk)}, "model": {d.model}, "hostname": {d.hostname},
	}, &d.auth)
	if status != http.StatusOK || d.auth.UserCode == "" {
		d.t.Fatalf("device_authorization: %d %+v", status, d.auth)
	}
}

type tokenAnswer struct {
	pairing.TokenResponse
	Error string `json:"error"`
}

// poll asks the token endpoint once (RFC 8628 section 3.4).
func (d *device) poll() *tokenAnswer {
	d.t.Helper()
	var a tokenAnswer
	d.post("/pair/token", url.Values{"grant_type": {pairing.DeviceCodeGrant}, "device_code": {d.auth.DeviceCode}, "client_id": {"lantls-agent"}}, &a)
	return &a
}

// label is what the device's label must be: names.Label of its key.
func (d *device) label() string {
	spki, _ := x509.MarshalPKIXPublicKey(&d.key.PublicKey)
	return names.Label(spki)
}

// collectAndIssue polls for the credentials of an approved pairing, then
// registers with EAB, using the key that paired, and gets a certificate
// for the device's names, as the agent does.
func (d *device) collectAndIssue() (*pairing.Credentials, *x509.Certificate) {
	t := d.t
	t.Helper()
	// One poll: an approved pairing is redeemed however soon after the
	// last poll it comes, never answered with slow_down.
	a := d.poll()
	if a.AccessToken == "" || a.Lantls == nil {
		t.Fatalf("token after approval: %+v", a)
	}
	creds := a.Lantls
	ctx := t.Context()
	hmacKey, err := base64.RawURLEncoding.DecodeString(creds.EABHMACKey)
	if err != nil {
		t.Fatal(err)
	}
	cl := &acme.Client{Key: d.key, DirectoryURL: creds.Directory, HTTPClient: d.c}
	if _, err := cl.Register(ctx, &acme.Account{ExternalAccountBinding: &acme.ExternalAccountBinding{KID: creds.EABKID, Key: hmacKey}}, acme.AcceptTOS); err != nil {
		t.Fatalf("register with EAB: %v", err)
	}
	o, err := cl.AuthorizeOrder(ctx, acme.DomainIDs(creds.Names...))
	if err != nil {
		t.Fatalf("new order: %v", err)
	}
	tlsKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: creds.Names[0]}, DNSNames: creds.Names}, tlsKey)
	if err != nil {
		t.Fatal(err)
	}
	if o, err = cl.WaitOrder(ctx, o.URI); err != nil {
		t.Fatalf("wait order: %v", err)
	}
	der, _, err := cl.CreateOrderCert(ctx, o.FinalizeURL, csr, true)
	if err != nil {
		t.Fatalf("finalize: %v", err)
	}
	leaf, err := x509.ParseCertificate(der[0])
	if err != nil || leaf.DNSNames[0] != creds.Names[0] {
		t.Fatalf("certificate: %v, %v", leaf, err)
	}
	return creds, leaf
}

// approveInBrowser enters the device's code in b's UI through the
// verification_uri_complete link and presses button ("approve" or "deny").
func approveInBrowser(t *testing.T, b *browser, d *device, button string) *http.Response {
	t.Helper()
	u, err := url.Parse(d.auth.VerificationURIComplete)
	if err != nil || u.Path != "/device" {
		t.Fatalf("verification_uri_complete = %q", d.auth.VerificationURIComplete)
	}
	b.want(b.get(u.RequestURI()), http.StatusOK, `value="`+d.auth.UserCode+`"`, "Continue")
	resp := b.post("/device", url.Values{"user_code": {d.auth.UserCode}})
	groups := d.label()[:4] + " " + d.label()[4:8]
	b.want(resp, http.StatusOK, "Approve this device?", "Aurora TV 55", "livingroom-tv", groups, "127.0.0.1")
	return b.post("/device/"+button, url.Values{"user_code": {d.auth.UserCode}})
}

// TestPairThroughTheUI is issue 19's end-to-end test: a device starts
// pairing; its owner logs in and approves through the real forms (CSRF
// included); the device collects its credentials, registers with EAB and
// gets a certificate, which the device list then shows.
func TestPairThroughTheUI(t *testing.T) {
	t.Parallel()
	f := start(t)
	f.addUser(t, "alice", store.RoleOwner)
	d := newDevice(t, f)
	d.start()
	if a := d.poll(); a.Error != "authorization_pending" {
		t.Fatalf("poll before approval: %+v, want authorization_pending", a)
	}

	b := f.browser(t)
	b.login("alice")
	resp := approveInBrowser(t, b, d, "approve")
	b.want(resp, http.StatusOK, "The device is approved", "livingroom-tv", d.label())

	creds, leaf := d.collectAndIssue()
	if creds.Label != d.label() {
		t.Errorf("label = %s, want %s (names.Label of the device key)", creds.Label, d.label())
	}

	// The owner's list shows the device with its certificate.
	b.want(b.get("/"), http.StatusOK, "livingroom-tv", d.label(), leaf.NotAfter.UTC().Format("2 Jan 2006"))
	// A redeemed code yields nothing more.
	if a := d.poll(); a.Error != "invalid_grant" {
		t.Errorf("second redemption: %+v, want invalid_grant", a)
	}
	b.want(b.get("/audit"), http.StatusOK, "approve", "livingroom-tv")

	// A renewal stuck at the upstream CA shows as the device's last error.
	st := f.iss.Store()
	dev, err := st.GetDeviceByLabel(t.Context(), d.label())
	if err != nil {
		t.Fatal(err)
	}
	accts, err := st.ListAccountsByDevice(t.Context(), dev.ID)
	if err != nil || len(accts) != 1 {
		t.Fatalf("accounts: %v, %v", accts, err)
	}
	o := &store.Order{AccountID: accts[0].ID, DeviceID: dev.ID, Status: store.StatusProcessing,
		Identifiers: []store.Identifier{{Type: "dns", Value: creds.Names[0]}}, Expires: time.Now().Add(time.Hour)}
	if err := st.CreateOrder(t.Context(), o, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.PutUpstreamOrder(t.Context(), &store.UpstreamOrder{OrderID: o.ID, Names: creds.Names, LastError: "upstream CA unreachable"}); err != nil {
		t.Fatal(err)
	}
	b.want(b.get("/"), http.StatusOK, "Last error", "upstream CA unreachable")
	b.want(b.get("/devices/"+dev.ID), http.StatusOK, "Last error", "upstream CA unreachable")
}

func TestDenyThroughTheUI(t *testing.T) {
	t.Parallel()
	f := start(t)
	f.addUser(t, "alice", store.RoleOwner)
	d := newDevice(t, f)
	d.start()
	b := f.browser(t)
	b.login("alice")
	b.want(approveInBrowser(t, b, d, "deny"), http.StatusOK, "The pairing was denied")
	if a := d.poll(); a.Error != "access_denied" {
		t.Errorf("poll after deny: %+v, want access_denied", a)
	}
	// The code is spent.
	b.get("/device")
	b.want(b.post("/device", url.Values{"user_code": {d.auth.UserCode}}), http.StatusBadRequest, "already approved or denied")
}

func TestWrongCodes(t *testing.T) {
	t.Parallel()
	f := start(t)
	f.addUser(t, "alice", store.RoleOwner)
	b := f.browser(t)
	b.login("alice")
	b.get("/device")
	b.want(b.post("/device", url.Values{"user_code": {"BCDF-GHJK"}}), http.StatusBadRequest, "No pairing has this code")
	b.want(b.post("/device", url.Values{"user_code": {strings.Repeat("<x>", 30)}}), http.StatusBadRequest, "No pairing has this code")
	if strings.Contains(b.last, "<x>") {
		t.Error("the code entry page echoes markup")
	}
}

// TestApprovalShowsWhereTheRequestCameFrom is issue 29's finding 5 (RFC
// 10027, cross-device flows): the approval page says what asks to pair,
// from which address and when, and warns when that address is on another
// network than the approver's browser, as when a phisher started the
// pairing and sent the owner the code.
func TestApprovalShowsWhereTheRequestCameFrom(t *testing.T) {
	t.Parallel()
	f := start(t)
	f.addUser(t, "alice", store.RoleOwner)
	b := f.browser(t)
	b.login("alice")

	// A device beside the browser: both on loopback.
	d := newDevice(t, f)
	d.start()
	b.get("/device")
	b.want(b.post("/device", url.Values{"user_code": {d.auth.UserCode}}), http.StatusOK,
		"as the device reports it", "Requested from", "127.0.0.1", "Requested at", "your browser")
	if strings.Contains(b.last, "another network") {
		t.Errorf("a device on the browser's network got the warning:\n%s", excerpt(b.last))
	}

	// A request from elsewhere, with a code the owner was sent.
	const code = "BCDFGHJK"
	sum := sha256.Sum256([]byte(code))
	p := &store.Pairing{
		DeviceCodeHash: strings.Repeat("ab", 32), UserCode: code, UserCodeHash: hex.EncodeToString(sum[:]),
		ClientID: "lantls-agent", Model: "Aurora TV 55", Hostname: "livingroom-tv",
		Label: d.label(), KeyThumbprint: "x", KeyJWK: []byte(`{}`), Source: "198.51.100.7",
		Status: store.StatusPending, Interval: time.Second, Expires: time.Now().Add(10 * time.Minute),
	}
	if err := f.iss.Store().CreatePairing(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	b.get("/device")
	b.want(b.post("/device", url.Values{"user_code": {"BCDF-GHJK"}}), http.StatusOK,
		"198.51.100.7", "another network", "Deny")
}
