package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/internal/flagfile"
	"github.com/lantls/lantls/issuer"
	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/store"
)

const adminUsage = `lantls admin [--config FILE] [--data DIR] [--store URL] device|pair|user|attest <command> [flags]

Commands:
  device add     create a device and an EAB key for a stock ACME client
  device list    list devices
  device unpair LABEL
                 what the UI calls Unpair: revoke the device's
                 certificates, deactivate its accounts and keys, remove its
                 DNS names; a running agent notices within a minute, stops
                 serving and shows a new code ('device revoke' is the old
                 name)
  device revoke-certificates LABEL
                 what the UI calls Revoke certificates: the device stays
                 paired and a running agent gets a new certificate within
                 a minute
  device addresses LABEL [ADDR...]
                 set the LAN addresses a device reports (DNS shows them
                 within a second); without ADDR, show them
  device publish LABEL on|off|default
                 whether the DNS answers LABEL.ZONE with those addresses
  device name LABEL [NAME] [--mdns] [--clear]
                 a short name people can type: NAME.ZONE in DNS and in
                 the device's next certificate
  pair list      list pending and recent pairings (RFC 8628) [--json]
  pair approve   approve a device's code: USER_CODE --owner NAME
  pair deny      deny a device's code: USER_CODE
  budget         who used the upstream signer's budget of new
                 certificates: the domain's, and each owner's share
  attest list, attest set MODEL required|optional|off|default
                 whether devices of a model must prove their key in
                 hardware (ACME device-attest-01; 'attest set --help')
  user add       add a user of the web UI (NAME [--admin] [--password-file FILE])
  user list      list the users of the web UI
  user passwd    change a user's password (logs out its sessions, removes
                 its passkeys)
  user disable NAME, user enable NAME
                 stop a user logging in (sessions end; password and
                 passkeys are kept for enable), or let it again
  user delete NAME
                 remove a user with its sessions and passkeys; the
                 owner's devices stay
  user passkeys list NAME, user passkeys remove NAME ID|--all
                 a user's passkeys, and removing them

The data dir is the issuer's (--data of 'lantls issuer'), and so is the
store (--store, when the issuer has one); the issuer may be running.
--config reads them from the issuer's configuration file, e.g.
/etc/lantls/issuer.conf (its other settings are skipped).`

func runAdmin(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "admin", adminUsage)
	dataDir := fs.String("data", issuer.Defaults.DataDir, "the issuer's data `dir`")
	storeURL := fs.String("store", "", "the issuer's --store `URL`, if it has one (PostgreSQL)")
	conf := flagfile.Add(fs, envPrefix) // the issuer's file: its data and store
	conf.SkipUnknown = true
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := conf.Apply(os.Getenv); err != nil {
		return usagef("%v", err)
	}
	rest := fs.Args()
	if len(rest) > 0 && rest[0] == "pair" {
		return (&admin{env: e, dataDir: *dataDir, storeURL: *storeURL}).runPair(ctx, rest[1:])
	}
	if len(rest) > 0 && rest[0] == "budget" {
		return (&admin{env: e, dataDir: *dataDir, storeURL: *storeURL}).budget(ctx, rest[1:])
	}
	if len(rest) > 0 && rest[0] == "attest" {
		return (&admin{env: e, dataDir: *dataDir, storeURL: *storeURL}).runAttest(ctx, rest[1:])
	}
	if len(rest) > 0 && rest[0] == "user" {
		return (&admin{env: e, dataDir: *dataDir, storeURL: *storeURL}).runUser(ctx, rest[1:])
	}
	switch {
	case len(rest) == 0:
		return usagef("want 'device add', 'device list' or 'device unpair LABEL'; run 'lantls admin --help'")
	case rest[0] != "device":
		return usagef("unknown command %q: want 'device add', 'device list' or 'device unpair LABEL'; run 'lantls admin --help'", rest[0])
	case len(rest) == 1:
		return usagef("'device' needs a command: add, list, unpair or revoke-certificates; run 'lantls admin --help'")
	}
	a := &admin{env: e, dataDir: *dataDir, storeURL: *storeURL}
	switch rest[1] {
	case "add":
		return a.add(ctx, rest[2:])
	case "list":
		return a.list(ctx, rest[2:])
	case "unpair", "revoke":
		return a.unpair(ctx, rest[1], rest[2:])
	case "revoke-certificates":
		return a.revokeCertificates(ctx, rest[2:])
	case "addresses":
		return a.addresses(ctx, rest[2:])
	case "publish":
		return a.publish(ctx, rest[2:])
	case "name":
		return a.shortName(ctx, rest[2:])
	}
	return usagef("unknown device command %q: use add, list, unpair, revoke-certificates, addresses, publish or name", rest[1])
}

type admin struct {
	*env
	dataDir  string
	storeURL string // empty: SQLite in dataDir
}

// deviceFlags registers --data on a device subcommand, so it may come
// before or after the subcommand.
func (a *admin) deviceFlags(name, usage string) *flag.FlagSet {
	return a.subFlags("device "+name, usage)
}

// subFlags registers --data on the subcommand name ("device add", "user
// list"), so it may come before or after the subcommand.
func (a *admin) subFlags(name, usage string) *flag.FlagSet {
	fs := newFlags(a.env, "admin "+name, usage)
	fs.StringVar(&a.dataDir, "data", a.dataDir, "the issuer's data `dir`")
	fs.StringVar(&a.storeURL, "store", a.storeURL, "the issuer's --store `URL`, if it has one (PostgreSQL)")
	return fs
}

// open opens the store of the data dir and reads what the issuer recorded
// there (its directory URL and zone), falling back to the defaults.
func (a *admin) open(ctx context.Context, zone string) (store.Store, *issuer.Info, error) {
	if fi, err := os.Stat(a.dataDir); err != nil || !fi.IsDir() {
		return nil, nil, fmt.Errorf("data dir %s does not exist: start 'lantls issuer --data %s' once, or pass --data", a.dataDir, a.dataDir)
	}
	info, err := issuer.ReadInfo(a.dataDir)
	if errors.Is(err, os.ErrNotExist) {
		abs, _ := filepath.Abs(a.dataDir)
		d := issuer.Defaults
		info = &issuer.Info{
			Directory: "https://" + d.Listen + "/acme/directory",
			Root:      filepath.Join(abs, "ca", "root.pem"),
			Zone:      d.Zone,
		}
		fmt.Fprintf(a.stderr, "note: no issuer has run with --data %s yet; assuming zone %s and directory %s\n", a.dataDir, info.Zone, info.Directory)
	} else if err != nil {
		return nil, nil, err
	}
	if zone != "" {
		info.Zone = zone
	}
	st, err := issuer.OpenStore(ctx, a.dataDir, a.storeURL)
	if err != nil {
		return nil, nil, fmt.Errorf("open store: %w", err)
	}
	return st, info, nil
}

func (a *admin) add(ctx context.Context, args []string) error {
	fs := a.deviceFlags("add", `lantls admin device add --owner NAME --name "Living room TV" [--count N] [--json]`)
	owner := fs.String("owner", "", "the device owner's `name` (created if new)")
	name := fs.String("name", "", "the device's display `name`")
	count := fs.Int("count", 1, "how many devices to create (names get a number)")
	asJSON := fs.Bool("json", false, "print one JSON object per device per line")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	if *owner == "" || *name == "" {
		return usagef("--owner and --name are required, e.g. --owner alice --name \"Living room TV\"")
	}
	if *count < 1 {
		return usagef("--count must be at least 1")
	}
	st, info, err := a.open(ctx, "")
	if err != nil {
		return err
	}
	defer st.Close()
	enc := json.NewEncoder(a.stdout)
	for i := range *count {
		n := *name
		if *count > 1 {
			n = fmt.Sprintf("%s %d", *name, i+1)
		}
		c, err := devices.Add(ctx, st, info.Zone, *owner, n, time.Now())
		if err != nil {
			return err
		}
		d := credentialsJSON(c, info)
		if *asJSON {
			if err := enc.Encode(d); err != nil {
				return err
			}
			continue
		}
		printDevice(a.stdout, d)
	}
	return nil
}

func credentialsJSON(c *devices.Credentials, info *issuer.Info) *devices.Summary {
	d := &devices.Summary{
		ID:         c.Device.ID,
		Label:      c.Device.Label,
		Owner:      c.Owner.Name,
		Name:       c.Device.Name,
		Status:     string(c.Device.Status),
		Names:      c.Names,
		EABKID:     c.KID,
		EABHMACKey: c.HMACKey,
		Directory:  info.Directory,
		Root:       info.Root,
	}
	domains := ""
	for _, n := range c.Names {
		domains += " -d " + shellQuote(n)
	}
	d.Certbot = fmt.Sprintf("REQUESTS_CA_BUNDLE=%s certbot certonly --server %s --eab-kid %s --eab-hmac-key %s"+
		" --manual --preferred-challenges dns --manual-auth-hook /bin/true --non-interactive --agree-tos"+
		" --register-unsafely-without-email --cert-name %s%s",
		shellQuote(info.Root), info.Directory, c.KID, c.HMACKey, c.Device.Label, domains)
	d.Lego = fmt.Sprintf("EXEC_PATH=/bin/true LEGO_CA_CERTIFICATES=%s lego --server %s --eab --kid %s --hmac %s"+
		" --accept-tos --email admin@example.com --key-type ec256 --dns exec --dns.disable-cp%s run",
		shellQuote(info.Root), info.Directory, c.KID, c.HMACKey, domains)
	return d
}

func printDevice(w io.Writer, d *devices.Summary) {
	fmt.Fprintf(w, `device %q of owner %q
  label         %s
  names         %s
  directory     %s
  root          %s
  eab_kid       %s
  eab_hmac_key  %s
  (the EAB key is secret and works for one ACME account only)

Get its certificate with certbot:
  %s

or with lego:
  %s

`, d.Name, d.Owner, d.Label, strings.Join(d.Names, ", "), d.Directory, d.Root, d.EABKID, d.EABHMACKey, d.Certbot, d.Lego)
}

func (a *admin) list(ctx context.Context, args []string) error {
	fs := a.deviceFlags("list", "lantls admin device list [--owner NAME] [--json]")
	owner := fs.String("owner", "", "list only this owner's devices")
	asJSON := fs.Bool("json", false, "print one JSON object per device per line")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	st, info, err := a.open(ctx, "")
	if err != nil {
		return err
	}
	defer st.Close()
	var filter store.DeviceFilter
	if *owner != "" {
		o, err := st.GetOwnerByName(ctx, *owner)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no owner named %q", *owner)
		} else if err != nil {
			return err
		}
		filter.OwnerID = o.ID
	}
	devs, err := st.ListDevices(ctx, filter)
	if err != nil {
		return fmt.Errorf("list devices: %w", err)
	}
	owners := map[string]string{}
	enc := json.NewEncoder(a.stdout)
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	if !*asJSON {
		fmt.Fprintln(tw, "LABEL\tNAME\tOWNER\tSTATUS\tCERTS\tCREATED")
	}
	for _, d := range devs {
		if _, ok := owners[d.OwnerID]; !ok {
			o, err := st.GetOwner(ctx, d.OwnerID)
			if err != nil {
				return fmt.Errorf("list devices: owner of %s: %w", d.Label, err)
			}
			owners[d.OwnerID] = o.Name
		}
		certs, err := st.ListCertificates(ctx, d.ID)
		if err != nil {
			return fmt.Errorf("list devices: certificates of %s: %w", d.Label, err)
		}
		if *asJSON {
			enc.Encode(&devices.Summary{ID: d.ID, Label: d.Label, Owner: owners[d.OwnerID], Name: d.Name, Status: string(d.Status),
				Names: names.CertNames(d.Label, info.Zone), Created: d.CreatedAt.Format(time.RFC3339)})
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", d.Label, d.Name, owners[d.OwnerID], d.Status, len(certs), d.CreatedAt.Format(time.DateTime))
	}
	if !*asJSON {
		tw.Flush()
		if len(devs) == 0 {
			fmt.Fprintln(a.stdout, "(no devices yet: add one with 'lantls admin device add')")
		}
	}
	return nil
}

// unpair is 'device unpair' (and its old name, 'device revoke').
func (a *admin) unpair(ctx context.Context, cmd string, args []string) error {
	fs := a.deviceFlags(cmd, "lantls admin device "+cmd+" LABEL")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("want exactly one device LABEL (see 'lantls admin device list')")
	}
	st, _, err := a.open(ctx, "")
	if err != nil {
		return err
	}
	defer st.Close()
	r, err := devices.Revoke(ctx, st, fs.Arg(0), time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "unpaired device %s (%q): %d certificates revoked, %d accounts deactivated; a running agent stops serving within a minute\n",
		r.Device.Label, r.Device.Name, r.Certificates, r.Accounts)
	return nil
}

// revokeCertificates is 'device revoke-certificates'.
func (a *admin) revokeCertificates(ctx context.Context, args []string) error {
	fs := a.deviceFlags("revoke-certificates", "lantls admin device revoke-certificates LABEL")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("want exactly one device LABEL (see 'lantls admin device list')")
	}
	st, _, err := a.open(ctx, "")
	if err != nil {
		return err
	}
	defer st.Close()
	d, err := st.GetDeviceByLabel(ctx, fs.Arg(0))
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no device with label %q (see 'lantls admin device list')", fs.Arg(0))
	}
	if err != nil {
		return err
	}
	n, err := devices.RevokeCertificates(ctx, st, devices.Operator, d.ID, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "revoked %d certificates of device %s (%q); it stays paired, and a running agent gets a new certificate within a minute\n", n, d.Label, d.Name)
	return nil
}
