package main

import (
	"bufio"
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestShippingBinaries builds the two binaries that ship, lantls and
// lantls-agent, and checks that neither links test or benchmark code:
// no Pebble, no load client, no package testing. lantls-pebble, which the
// demo runs, must show Pebble, or the check would prove nothing.
func TestShippingBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds three binaries")
	}
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", dir+"/", "github.com/lantls/lantls/cmd/lantls", "github.com/lantls/lantls/cmd/lantls-agent", "github.com/lantls/lantls/demo/cmd/lantls-pebble")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	forbiddenModules := []string{"github.com/letsencrypt/pebble/", "github.com/zmap/zlint/", "github.com/chromedp/"}
	forbiddenSymbols := []string{"testing.", "github.com/lantls/lantls/bench.", "github.com/lantls/lantls/internal/pebble.",
		"github.com/lantls/lantls/issuer/issuertest.", "github.com/lantls/lantls/internal/testkeys.", "github.com/letsencrypt/pebble/"}
	for _, name := range []string{"lantls", "lantls-agent", "lantls-pebble"} {
		bin := filepath.Join(dir, name)
		mods := linkedModules(t, bin)
		syms := symbols(t, bin, forbiddenSymbols)
		var found []string
		for _, m := range forbiddenModules {
			for _, have := range mods {
				if strings.HasPrefix(have+"/", m) {
					found = append(found, "module "+have)
				}
			}
		}
		for _, p := range forbiddenSymbols {
			if s, ok := syms[p]; ok {
				found = append(found, "symbol "+s)
			}
		}
		switch {
		case name == "lantls-pebble" && len(found) == 0:
			t.Errorf("lantls-pebble links no Pebble by this check: the check is broken")
		case name != "lantls-pebble" && len(found) > 0:
			t.Errorf("%s links test or benchmark code: %s", name, strings.Join(found, ", "))
		}
	}
}

// linkedModules lists the dependency modules `go version -m` reports.
func linkedModules(t *testing.T, bin string) []string {
	t.Helper()
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m %s: %v", bin, err)
	}
	var mods []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "dep" {
			mods = append(mods, f[1])
		}
	}
	return mods
}

// symbols returns, for each of prefixes, one symbol of bin that starts
// with it, from `go tool nm`.
func symbols(t *testing.T, bin string, prefixes []string) map[string]string {
	t.Helper()
	out, err := exec.Command("go", "tool", "nm", bin).Output()
	if err != nil {
		t.Fatalf("go tool nm %s: %v", bin, err)
	}
	found := map[string]string{}
	s := bufio.NewScanner(bytes.NewReader(out))
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) < 3 {
			continue
		}
		sym := f[2]
		for _, p := range prefixes {
			if strings.HasPrefix(sym, p) {
				found[p] = sym
			}
		}
	}
	return found
}
