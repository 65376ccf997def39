package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/lantls/lantls/deviceapi/deviceserver"
	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/issuer"
	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/store"
)

// addresses sets, or shows, the addresses a device reported, as the
// device itself would with PUT /api/v1/device/addresses.
func (a *admin) addresses(ctx context.Context, args []string) error {
	fs := a.deviceFlags("addresses", "lantls admin device addresses LABEL [ADDR...]\n\nWith addresses, replace the ones the device last reported (--clear: none);\nwithout, show them.")
	clear := fs.Bool("clear", false, "remove every address")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() < 1 {
		return usagef("want a device LABEL and its addresses, e.g. 'device addresses LABEL 192.168.1.20 fd00::20'")
	}
	if *clear && fs.NArg() > 1 {
		return usagef("--clear takes no addresses")
	}
	st, info, err := a.open(ctx, "")
	if err != nil {
		return err
	}
	defer st.Close()
	d, err := deviceByLabel(ctx, st, fs.Arg(0))
	if err != nil {
		return err
	}
	if fs.NArg() > 1 || *clear {
		allow, err := info.Ranges()
		if err != nil {
			return err
		}
		addrs, err := deviceserver.ParseAddresses(fs.Args()[1:], allow)
		if err != nil {
			return fmt.Errorf("%w; the issuer's --dns-allow sets the ranges", err)
		}
		if err := st.SetDeviceAddresses(ctx, d.ID, addrs); err != nil {
			return err
		}
	}
	dd, err := st.GetDeviceDNS(ctx, d.ID)
	if err != nil {
		return err
	}
	return a.printDNS(dd, info)
}

// publish sets a device's choice about publishing its addresses at L.Z.
func (a *admin) publish(ctx context.Context, args []string) error {
	fs := a.deviceFlags("publish", "lantls admin device publish LABEL on|off|default\n\nWhether the DNS answers LABEL.ZONE with the device's addresses. The label\nis in every certificate and so in public CT logs: 'on' tells anyone who\nasks the device's LAN addresses. 'default' is on for zones under\nhome.arpa, internal and test, off for others.")
	if err := parse(fs, args); err != nil {
		return err
	}
	choices := map[string]store.Publish{"on": store.PublishOn, "off": store.PublishOff, "default": store.PublishDefault}
	p, ok := choices[fs.Arg(1)]
	if fs.NArg() != 2 || !ok {
		return usagef("want a device LABEL and on, off or default")
	}
	st, info, err := a.open(ctx, "")
	if err != nil {
		return err
	}
	defer st.Close()
	d, err := deviceByLabel(ctx, st, fs.Arg(0))
	if err != nil {
		return err
	}
	if err := devices.SetPublish(ctx, st, devices.Actor{Name: "cli", Admin: true}, d.ID, p); err != nil {
		return err
	}
	dd, err := st.GetDeviceDNS(ctx, d.ID)
	if err != nil {
		return err
	}
	return a.printDNS(dd, info)
}

func deviceByLabel(ctx context.Context, st store.Store, label string) (*store.Device, error) {
	d, err := st.GetDeviceByLabel(ctx, strings.ToLower(label))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("no device has label %q (see 'lantls admin device list')", label)
	}
	return d, err
}

func (a *admin) printDNS(d *store.DeviceDNS, info *issuer.Info) error {
	publish := names.PublishByDefault(info.Zone)
	choice := "default (" + map[bool]string{true: "on", false: "off"}[publish] + " for zone " + info.Zone + ")"
	switch d.Publish {
	case store.PublishOn:
		choice, publish = "on", true
	case store.PublishOff:
		choice, publish = "off", false
	}
	fmt.Fprintf(a.stdout, "device %s\n  publish    %s\n", d.Label, choice)
	if len(d.Addresses) == 0 {
		fmt.Fprintln(a.stdout, "  addresses  none")
	}
	for _, addr := range d.Addresses {
		fmt.Fprintf(a.stdout, "  address    %-16s %s\n", addr, names.AddressName(addr, d.Label, info.Zone))
	}
	if publish && len(d.Addresses) > 0 {
		fmt.Fprintf(a.stdout, "  %s answers with these addresses\n", names.DeviceName(d.Label, info.Zone))
	}
	return nil
}

func (a *admin) shortName(ctx context.Context, args []string) error {
	fs := a.deviceFlags("name", "lantls admin device name LABEL [NAME] [--mdns] [--clear]\n\nGive a device a short name people can type: NAME.ZONE answers with its\naddresses at once, and the local signer puts it in the device's next\ncertificate. Unique among the devices; --mdns adds NAME.local where the\nCA's root permits local. Without NAME, show it; --clear removes it.")
	mdns := fs.Bool("mdns", false, "also NAME.local, for clients that resolve mDNS")
	clear := fs.Bool("clear", false, "remove the device's short name")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() < 1 || fs.NArg() > 2 || *clear && fs.NArg() != 1 {
		return usagef("want a device LABEL and a NAME such as tv, or --clear; run 'lantls admin device name --help'")
	}
	st, info, err := a.open(ctx, "")
	if err != nil {
		return err
	}
	defer st.Close()
	d, err := deviceByLabel(ctx, st, fs.Arg(0))
	if err != nil {
		return err
	}
	if fs.NArg() == 2 || *clear {
		err := devices.SetShortName(ctx, st, devices.Actor{Name: "cli", Admin: true}, d.ID, fs.Arg(1), *mdns)
		if errors.Is(err, devices.ErrShortNameTaken) {
			return fmt.Errorf("%s.%s belongs to another device: choose another name", fs.Arg(1), info.Zone)
		}
		if err != nil {
			return err
		}
	}
	n, err := st.GetDeviceShortName(ctx, d.ID)
	if err != nil {
		return err
	}
	if n.Name == "" {
		fmt.Fprintf(a.stdout, "%s has no short name\n", d.Label)
		return nil
	}
	fmt.Fprintf(a.stdout, "%s  https://%s.%s/\n", d.Label, n.Name, info.Zone)
	if n.MDNS {
		fmt.Fprintf(a.stdout, "%s  %s.local (in certificates where the root permits local)\n", d.Label, n.Name)
	}
	return nil
}
