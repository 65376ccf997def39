package attest

import (
	"slices"
	"testing"
)

// FuzzIdentifiers feeds order identifiers (outside input, checked by
// ValidIdentifier) and subjectAltName bytes (read by otherNames) to their
// parsers: neither may panic, and a valid identifier must read back from
// the subjectAltName SubjectAltName makes for it, octet for octet.
func FuzzIdentifiers(f *testing.F) {
	for _, v := range []string{"SN-1", "ABCDEF123456/1.2.3.4", "HSM/2.999.1", "x/0.39"} {
		f.Add(v, []byte{})
	}
	if ext, err := SubjectAltName(PermanentIdentifier, "SN-1/1.2.3"); err == nil {
		f.Add("SN-1", ext.Value)
	}
	if ext, err := SubjectAltName(HardwareModule, "HSM/1.2.3"); err == nil {
		f.Add("HSM/1.2.3", ext.Value)
	}
	f.Fuzz(func(t *testing.T, value string, der []byte) {
		otherNames(der)
		for _, typ := range []string{PermanentIdentifier, HardwareModule} {
			if ValidIdentifier(typ, value) != nil {
				continue
			}
			ext, err := SubjectAltName(typ, value)
			if err != nil {
				t.Fatalf("SubjectAltName(%s, %q): %v", typ, value, err)
			}
			perm, hw, err := otherNames(ext.Value)
			if err != nil {
				t.Fatalf("otherNames of SubjectAltName(%s, %q): %v", typ, value, err)
			}
			got := perm
			if typ == HardwareModule {
				got = hw
			}
			if !slices.Equal(got, []string{value}) {
				t.Errorf("SubjectAltName(%s, %q) reads back as %q", typ, value, got)
			}
		}
	})
}
