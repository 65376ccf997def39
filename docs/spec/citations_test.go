package spec_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// citingDocs are the documents whose rows cite tests as their proof.
var citingDocs = []string{
	"../standards.md",
	"../gap-analysis-acme.md",
	"../gap-analysis-webauthn.md",
	"../use-cases.md",
	"device-issuer.md",
	"browser-device.md",
}

var (
	citedTest = regexp.MustCompile("`((?:Test|Fuzz)[A-Z][A-Za-z0-9_]*)`")
	testFunc  = regexp.MustCompile(`(?m)^func ((?:Test|Fuzz)[A-Z][A-Za-z0-9_]*)\(`)
)

// TestStandardsCiteRealTests fails when a document cites a test that no
// _test.go file in the module defines, so a renamed or deleted test
// cannot leave a row claiming a proof that is gone.
func TestStandardsCiteRealTests(t *testing.T) {
	defined := map[string]bool{}
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != root || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range testFunc.FindAllSubmatch(b, -1) {
			defined[string(m[1])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range citingDocs {
		b, err := os.ReadFile(doc)
		if os.IsNotExist(err) {
			t.Errorf("%s is missing", doc)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range citedTest.FindAllSubmatch(b, -1) {
			if !defined[string(m[1])] {
				t.Errorf("%s cites %s, which no test file defines", doc, m[1])
			}
		}
	}
}
