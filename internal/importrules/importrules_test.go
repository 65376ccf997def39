package importrules

import (
	"go/build"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/lantls/lantls/"

// A rule says what a package, and everything it imports from the module
// (tests aside), may not import.
type rule struct {
	pkg string // a package, or with /... it and every package below it
	// except are packages below a /... that the rule leaves out: tests'
	// helpers, which run a real issuer.
	except []string
	// forbid lists module packages (with everything below them) it must
	// not reach; allow, when set, is the only ones it may.
	forbid, allow []string
	why           string
}

var rules = []rule{
	{pkg: "cmd/lantls-agent", forbid: issuerSide,
		why: "the agent runs on small devices: it links no issuer code"},
	{pkg: "agent/...", forbid: issuerSide, except: []string{"agent/internal/agenttest"},
		why: "a device's own Go server imports agent for TLSConfig, the agent's command line agent/agentcmd: they link no issuer code"},
	{pkg: "ca/local", forbid: []string{"devices", "acme", "issuer", "web", "pairing"},
		why: "a signer only signs: recording certificates is handed to it (ca.Record)"},
	{pkg: "ca/upstream", forbid: []string{"devices", "acme", "issuer", "web", "pairing"},
		why: "a signer only signs: recording certificates is handed to it (ca.Record)"},
	{pkg: "store", allow: []string{"store", "problem"}, why: "the store is the bottom layer"},
	{pkg: "store/sqlite", allow: []string{"store", "problem"}, why: "the store is the bottom layer"},
	{pkg: "store/postgres", allow: []string{"store", "problem"}, why: "the store is the bottom layer"},
	{pkg: "names", allow: []string{}, why: "names is pure functions every layer uses"},
	{pkg: "deviceapi", allow: []string{}, why: "the device API's wire types are what the agent links of the issuer"},
	{pkg: "deviceapi/deviceserver", forbid: []string{"pairing", "issuer", "acme", "web"},
		why: "the device API serves paired devices: pairing hands out its first token (deviceserver.NewToken), not the other way"},
	{pkg: "problem", allow: []string{}, why: "problem is the vocabulary every layer returns"},
}

// issuerSide are the packages of the issuer alone.
// The device API's server is one of them; its wire types (deviceapi) are
// not.
var issuerSide = []string{"issuer", "acme", "ca", "web", "dnsserver", "pairing", "deviceapi/deviceserver", "devices", "store", "ratelimit", "users", "demo", "bench"}

func TestImportRules(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	deps := map[string][]string{} // module package -> its module imports, tests aside
	//lint:ignore S1021 the closure calls itself, so it is declared first
	var load func(pkg string) []string
	load = func(pkg string) []string {
		if d, ok := deps[pkg]; ok {
			return d
		}
		deps[pkg] = nil // a cycle would not compile; this ends the walk
		p, err := build.Default.ImportDir(filepath.Join(root, filepath.FromSlash(pkg)), 0)
		if err != nil {
			t.Fatalf("%s: %v", pkg, err)
		}
		var own []string
		for _, imp := range p.Imports {
			if rest, ok := strings.CutPrefix(imp, module); ok {
				own = append(own, rest)
			}
		}
		deps[pkg] = own
		return own
	}
	for _, r := range expand(t, root, rules) {
		// Every package r.pkg reaches, with the path that reaches it.
		via := map[string]string{r.pkg: r.pkg}
		queue := []string{r.pkg}
		for len(queue) > 0 {
			p := queue[0]
			queue = queue[1:]
			for _, d := range load(p) {
				if _, seen := via[d]; !seen {
					via[d] = via[p] + " -> " + d
					queue = append(queue, d)
				}
			}
		}
		for p, path := range via {
			if p == r.pkg {
				continue
			}
			bad := under(p, r.forbid)
			if r.allow != nil && !under(p, r.allow) {
				bad = true
			}
			if bad {
				t.Errorf("%s imports %s (%s): %s", r.pkg, p, path, r.why)
			}
		}
	}
}

// expand returns rules with each rule for "dir/..." made one rule per
// package in dir and below it, so that a package added there later is
// held to it too.
func expand(t *testing.T, root string, rules []rule) []rule {
	var out []rule
	for _, r := range rules {
		dir, ok := strings.CutSuffix(r.pkg, "/...")
		if !ok {
			out = append(out, r)
			continue
		}
		err := filepath.WalkDir(filepath.Join(root, filepath.FromSlash(dir)), func(path string, e fs.DirEntry, err error) error {
			if err != nil || !e.IsDir() {
				return err
			}
			if e.Name() == "testdata" {
				return filepath.SkipDir
			}
			if _, err := build.Default.ImportDir(path, 0); err != nil {
				if _, none := err.(*build.NoGoError); none {
					return nil
				}
				return err
			}
			rel, err := filepath.Rel(root, path)
			if pkg := filepath.ToSlash(rel); !slices.Contains(r.except, pkg) {
				r.pkg = pkg
				out = append(out, r)
			}
			return err
		})
		if err != nil {
			t.Fatalf("%s: %v", r.pkg, err)
		}
	}
	return out
}

// under reports whether pkg is one of roots or below one.
func under(pkg string, roots []string) bool {
	return slices.ContainsFunc(roots, func(r string) bool { return pkg == r || strings.HasPrefix(pkg, r+"/") })
}
