package floor

import (
	"strings"
	"testing"
)

// TestOperationsRun checks that every operation of the floor does its
// work without error (a signature that does not verify would make the
// floor meaningless), without timing them: Measure does that.
func TestOperationsRun(t *testing.T) {
	f, err := newFixture()
	if err != nil {
		t.Fatal(err)
	}
	for name, op := range map[string]func() error{
		"verifyJWS": f.verifyJWS, "macEAB": f.macEAB, "checkCSR": f.checkCSR,
		"signLeaf": f.signLeaf, "handshake": f.handshake,
	} {
		if err := op(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestString(t *testing.T) {
	r := &Result{Ops: []Op{{Name: "a", NsPerOp: 2000, Count: 3}}, FloorNs: 6000}
	for _, want := range []string{"| a | 2.0 | 3 | 6.0 |", "| **floor** | | | **6.0** |"} {
		if !strings.Contains(r.String(), want) {
			t.Errorf("String() lacks %q:\n%s", want, r)
		}
	}
}
