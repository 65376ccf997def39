package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Device is one simulated device: the EAB key it registers with (empty KID
// for servers that need none) and the names it orders.
type Device struct {
	KID     string
	HMACKey []byte
	Names   []string
}

// deviceLine is the part of a `lantls admin device add --json` line the
// load client reads.
type deviceLine struct {
	EABKID     string   `json:"eab_kid"`
	EABHMACKey string   `json:"eab_hmac_key"`
	Names      []string `json:"names"`
}

// ReadDevices reads up to limit devices (0 for all) from an EAB file, one
// device per line, in either form:
//
//   - a JSON object as `lantls admin device add --json` prints it, with
//     eab_kid, eab_hmac_key and names;
//   - `KID HMACKEY`, separated by white space.
//
// Blank lines and lines starting with # are skipped. When namesTemplate is
// set it gives every device's names (see ExpandNames), overriding names in
// JSON lines; `KID HMACKEY` lines need it.
func ReadDevices(r io.Reader, namesTemplate string, limit int) ([]Device, error) {
	var devs []Device
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan() && (limit <= 0 || len(devs) < limit); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		d, err := parseDeviceLine(text, namesTemplate, len(devs)+1)
		if err != nil {
			return nil, fmt.Errorf("read devices: line %d: %w", line, err)
		}
		devs = append(devs, d)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read devices: %w", err)
	}
	return devs, nil
}

func parseDeviceLine(text, namesTemplate string, n int) (Device, error) {
	var kid, key string
	var names []string
	if strings.HasPrefix(text, "{") {
		var l deviceLine
		if err := json.Unmarshal([]byte(text), &l); err != nil {
			return Device{}, err
		}
		kid, key, names = l.EABKID, l.EABHMACKey, l.Names
	} else {
		f := strings.Fields(text)
		if len(f) != 2 {
			return Device{}, fmt.Errorf("want a JSON object or KID HMACKEY, got %d fields", len(f))
		}
		kid, key = f[0], f[1]
	}
	if kid == "" || key == "" {
		return Device{}, fmt.Errorf("no EAB key ID or HMAC key")
	}
	hmacKey, err := decodeKey(key)
	if err != nil {
		return Device{}, err
	}
	if namesTemplate != "" {
		names = ExpandNames(namesTemplate, n)
	}
	if len(names) == 0 {
		return Device{}, fmt.Errorf("no names: the line has none, so pass a names template")
	}
	return Device{KID: kid, HMACKey: hmacKey, Names: names}, nil
}

// TemplateDevices returns n devices without EAB keys, for servers that do
// not require them, named by namesTemplate.
func TemplateDevices(namesTemplate string, n int) []Device {
	devs := make([]Device, n)
	for i := range devs {
		devs[i].Names = ExpandNames(namesTemplate, i+1)
	}
	return devs
}

// ExpandNames turns a comma-separated names template into the names of
// device number n (from 1): every {i} becomes n. "d{i}.example.com,
// *.d{i}.example.com" gives device 7 d7.example.com and *.d7.example.com;
// an IP address such as 127.0.0.1 is ordered as an IP identifier.
func ExpandNames(template string, n int) []string {
	var names []string
	for _, t := range strings.Split(template, ",") {
		if t = strings.TrimSpace(t); t != "" {
			names = append(names, strings.ReplaceAll(t, "{i}", strconv.Itoa(n)))
		}
	}
	return names
}
