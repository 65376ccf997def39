// Command dnszone seeds an issuer's data dir with devices, their reported
// addresses and ACME TXT records, and writes the same records as a zone
// file for a peer DNS server (Knot) and a dnsperf query file, so that
// bench/dns.sh can ask both servers the same questions about the same data:
//
//	dnszone --data DIR --zone Z --devices N --queries M --zonefile F --queryfile Q
//
// The query mix: 30% IPv4 address-names (A), 10% IPv6 address-names
// (AAAA), 25% device names L.Z (A; the zone must publish by default, as
// lan.test does), 20% names that do not exist (an address-name under an
// unknown label; NXDOMAIN), 15% _acme-challenge.L.Z TXT. Labels and order
// come from a fixed seed, so runs are comparable.
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/store"
	"github.com/lantls/lantls/store/sqlite"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "dnszone:", err)
		os.Exit(1)
	}
}

type device struct {
	label  string
	v4, v6 netip.Addr
	txt    string
}

func run(args []string) error {
	fs := flag.NewFlagSet("dnszone", flag.ExitOnError)
	data := fs.String("data", "", "the issuer's data `dir` (its lantls.db is created)")
	zone := fs.String("zone", "lan.test", "the `zone`")
	n := fs.Int("devices", 10000, "how many `devices`")
	m := fs.Int("queries", 100000, "how many query `lines`")
	zonefile := fs.String("zonefile", "", "zone file to write for the peer")
	queryfile := fs.String("queryfile", "", "dnsperf query file to write")
	nsAddr := fs.String("ns-addr", "127.0.0.1", "glue `address` of ns.ZONE")
	fs.Parse(args)
	if *data == "" || *zonefile == "" || *queryfile == "" {
		return fmt.Errorf("--data, --zonefile and --queryfile are required")
	}
	rng := rand.New(rand.NewPCG(20, 12))
	devs := make([]device, *n)
	for i := range devs {
		var key, tok [32]byte
		for j := range key {
			key[j], tok[j] = byte(rng.Uint32()), byte(rng.Uint32())
		}
		devs[i] = device{
			label: names.Label(key[:]),
			v4:    netip.AddrFrom4([4]byte{192, 168, byte(i / 250), byte(i%250 + 1)}),
			v6:    netip.AddrFrom16([16]byte{0: 0xfd, 14: byte(i >> 8), 15: byte(i)}),
			txt:   base64.RawURLEncoding.EncodeToString(tok[:]),
		}
	}
	if err := seed(context.Background(), filepath.Join(*data, "lantls.db"), *zone, devs); err != nil {
		return err
	}
	if err := writeZone(*zonefile, *zone, *nsAddr, devs); err != nil {
		return err
	}
	return writeQueries(*queryfile, *zone, devs, *m, rng)
}

// seed stores the devices, their addresses and TXT records in batches.
func seed(ctx context.Context, path, zone string, devs []device) error {
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return err
	}
	defer st.Close()
	owner, err := st.EnsureOwner(ctx, "bench")
	if err != nil {
		return err
	}
	for start := 0; start < len(devs); start += 500 {
		batch := devs[start:min(start+500, len(devs))]
		err := st.Update(ctx, func(tx store.Tx) error {
			for _, d := range batch {
				sd := &store.Device{Label: d.label, OwnerID: owner.ID, Name: "bench", Status: store.StatusActive}
				if err := tx.CreateDevice(ctx, sd); err != nil {
					return err
				}
				if err := tx.SetDeviceAddresses(ctx, sd.ID, []netip.Addr{d.v4, d.v6}); err != nil {
					return err
				}
				if err := tx.PutTXT(ctx, "_acme-challenge."+d.label+"."+zone, d.txt, timeFar); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("seed devices: %w", err)
		}
	}
	return nil
}

// writeZone writes the records ours serves for the queried names, in
// master file form; address-names, stateless for us, are listed one by one.
func writeZone(path, zone, nsAddr string, devs []device) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	fmt.Fprintf(w, "$ORIGIN %s.\n$TTL 60\n", zone)
	fmt.Fprintf(w, "@ 3600 IN SOA ns.%s. hostmaster.%s. 1 3600 600 604800 60\n", zone, zone)
	fmt.Fprintf(w, "@ 3600 IN NS ns.%s.\nns 3600 IN A %s\n", zone, nsAddr)
	for _, d := range devs {
		fmt.Fprintf(w, "%s A %s\n%s AAAA %s\n", d.label, d.v4, d.label, d.v6)
		fmt.Fprintf(w, "%s.%s A %s\n", names.AddressLabel(d.v4), d.label, d.v4)
		fmt.Fprintf(w, "%s.%s AAAA %s\n", names.AddressLabel(d.v6), d.label, d.v6)
		fmt.Fprintf(w, "_acme-challenge.%s TXT \"%s\"\n", d.label, d.txt)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

func writeQueries(path, zone string, devs []device, m int, rng *rand.Rand) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for range m {
		d := devs[rng.IntN(len(devs))]
		switch p := rng.IntN(100); {
		case p < 30:
			fmt.Fprintf(w, "%s A\n", names.AddressName(d.v4, d.label, zone))
		case p < 40:
			fmt.Fprintf(w, "%s AAAA\n", names.AddressName(d.v6, d.label, zone))
		case p < 65:
			fmt.Fprintf(w, "%s A\n", names.DeviceName(d.label, zone))
		case p < 85:
			var key [8]byte
			for j := range key {
				key[j] = byte(rng.Uint32())
			}
			fmt.Fprintf(w, "%s A\n", names.AddressName(d.v4, names.Label(key[:]), zone))
		default:
			fmt.Fprintf(w, "_acme-challenge.%s TXT\n", names.DeviceName(d.label, zone))
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// timeFar is the expiry of the seeded TXT records: long after any run.
var timeFar = time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
