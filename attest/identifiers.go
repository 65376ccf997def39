package attest

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

var (
	oidSubjectAltName      = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidPermanentIdentifier = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 8, 3} // RFC 4043
	oidHardwareModuleName  = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 8, 4} // RFC 4108
)

// ValidIdentifier checks an order identifier of the draft's types against
// its ABNF: permanent-identifier-value (section 3.1) and
// hardware-module-value (section 4.1). Servers must refuse others as
// malformed.
func ValidIdentifier(typ, value string) error {
	id, oid, hasOID := strings.Cut(value, "/")
	if id == "" || !utf8.ValidString(value) {
		return fmt.Errorf("%s %q: the part before any \"/\" must be one or more UTF-8 characters", typ, value)
	}
	switch typ {
	case PermanentIdentifier:
		if hasOID && !validOID(oid) {
			return fmt.Errorf("permanent-identifier %q: the assigner after \"/\" must be a dotted-decimal object identifier", value)
		}
	case HardwareModule:
		if !hasOID || !validOID(oid) {
			return fmt.Errorf("hardware-module %q must be SERIAL/TYPE, TYPE a dotted-decimal object identifier", value)
		}
	default:
		return fmt.Errorf("identifier type %q is not one of the draft's", typ)
	}
	return nil
}

// validOID reports whether s is a dotted-decimal OBJECT IDENTIFIER as the
// draft's ABNF has it: first arc 0, 1 or 2, at least two arcs, no leading
// zeros, and a second arc below 40 under 0 and 1.
func validOID(s string) bool {
	arcs := strings.Split(s, ".")
	if len(arcs) < 2 {
		return false
	}
	for i, a := range arcs {
		if a == "" || len(a) > 1 && a[0] == '0' || strings.Trim(a, "0123456789") != "" {
			return false
		}
		n, err := strconv.ParseUint(a, 10, 32)
		switch {
		case err != nil:
			return false
		case i == 0 && n > 2:
			return false
		case i == 1 && arcs[0] != "2" && n > 39:
			return false
		}
	}
	return true
}

// identifiers returns the permanent identifiers and hardware modules c
// certifies, in the order-resource syntax. Names that syntax cannot carry
// (a "/" in the value, bytes that are not UTF-8) are left out.
func identifiers(c *x509.Certificate) (perm, hw []string, err error) {
	if sn := c.Subject.SerialNumber; sn != "" && ValidIdentifier(PermanentIdentifier, sn) == nil && !strings.Contains(sn, "/") {
		perm = append(perm, sn)
	}
	for _, ext := range c.Extensions {
		if !ext.Id.Equal(oidSubjectAltName) {
			continue
		}
		p, h, err := otherNames(ext.Value)
		if err != nil {
			return nil, nil, fmt.Errorf("the attestation certificate's subjectAltName: %v", err)
		}
		perm, hw = append(perm, p...), append(hw, h...)
	}
	return perm, hw, nil
}

// otherNames reads the PermanentIdentifier and HardwareModuleName
// otherNames of a GeneralNames (RFC 5280 section 4.2.1.6).
func otherNames(der []byte) (perm, hw []string, err error) {
	in := cryptobyte.String(der)
	var names cryptobyte.String
	if !in.ReadASN1(&names, cbasn1.SEQUENCE) || !in.Empty() {
		return nil, nil, errors.New("not a GeneralNames sequence")
	}
	for !names.Empty() {
		var (
			gn  cryptobyte.String
			tag cbasn1.Tag
		)
		if !names.ReadAnyASN1(&gn, &tag) {
			return nil, nil, errors.New("a GeneralName is truncated")
		}
		if tag != cbasn1.Tag(0).ContextSpecific().Constructed() {
			continue // not an otherName
		}
		var (
			typ   asn1.ObjectIdentifier
			value cryptobyte.String
		)
		if !gn.ReadASN1ObjectIdentifier(&typ) || !gn.ReadASN1(&value, cbasn1.Tag(0).ContextSpecific().Constructed()) {
			return nil, nil, errors.New("an otherName is malformed")
		}
		switch {
		case typ.Equal(oidPermanentIdentifier):
			v, err := permanentIdentifier(value)
			if err != nil {
				return nil, nil, err
			}
			if v != "" {
				perm = append(perm, v)
			}
		case typ.Equal(oidHardwareModuleName):
			v, err := hardwareModule(value)
			if err != nil {
				return nil, nil, err
			}
			if v != "" {
				hw = append(hw, v)
			}
		}
	}
	return perm, hw, nil
}

// permanentIdentifier reads a PermanentIdentifier (RFC 4043 section 2):
// SEQUENCE { identifierValue UTF8String OPTIONAL, assigner OID OPTIONAL }.
func permanentIdentifier(in cryptobyte.String) (string, error) {
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) {
		return "", errors.New("a PermanentIdentifier is not a sequence")
	}
	var (
		value    cryptobyte.String
		hasValue bool
		assigner asn1.ObjectIdentifier
	)
	if !seq.ReadOptionalASN1(&value, &hasValue, cbasn1.UTF8String) {
		return "", errors.New("a PermanentIdentifier's identifierValue is malformed")
	}
	if seq.PeekASN1Tag(cbasn1.OBJECT_IDENTIFIER) && !seq.ReadASN1ObjectIdentifier(&assigner) {
		return "", errors.New("a PermanentIdentifier's assigner is malformed")
	}
	if !seq.Empty() {
		return "", errors.New("a PermanentIdentifier has extra fields")
	}
	v := string(value)
	if !hasValue || v == "" || strings.Contains(v, "/") || !utf8.ValidString(v) {
		return "", nil
	}
	if assigner != nil {
		v += "/" + assigner.String()
	}
	return v, nil
}

// hardwareModule reads a HardwareModuleName (RFC 4108 section 5):
// SEQUENCE { hwType OID, hwSerialNum OCTET STRING }.
func hardwareModule(in cryptobyte.String) (string, error) {
	var (
		seq    cryptobyte.String
		typ    asn1.ObjectIdentifier
		serial cryptobyte.String
	)
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1ObjectIdentifier(&typ) ||
		!seq.ReadASN1(&serial, cbasn1.OCTET_STRING) || !seq.Empty() {
		return "", errors.New("a HardwareModuleName is malformed")
	}
	s := string(serial)
	if s == "" || strings.Contains(s, "/") || !utf8.ValidString(s) {
		return "", nil
	}
	return s + "/" + typ.String(), nil
}

// SubjectAltName returns a subjectAltName extension naming the identifier
// (typ, value) in the draft's syntax as an RFC 4043 PermanentIdentifier or
// RFC 4108 HardwareModuleName, for the certificate of an attestation key
// (a maker's provisioning, or a test's CA).
func SubjectAltName(typ, value string) (pkix.Extension, error) {
	if err := ValidIdentifier(typ, value); err != nil {
		return pkix.Extension{}, err
	}
	id, oidText, _ := strings.Cut(value, "/")
	var oid asn1.ObjectIdentifier
	if oidText != "" {
		for a := range strings.SplitSeq(oidText, ".") {
			n, _ := strconv.Atoi(a)
			oid = append(oid, n)
		}
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			if typ == PermanentIdentifier {
				b.AddASN1ObjectIdentifier(oidPermanentIdentifier)
			} else {
				b.AddASN1ObjectIdentifier(oidHardwareModuleName)
			}
			b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					if typ == PermanentIdentifier {
						b.AddASN1(cbasn1.UTF8String, func(b *cryptobyte.Builder) { b.AddBytes([]byte(id)) })
						if oid != nil {
							b.AddASN1ObjectIdentifier(oid)
						}
						return
					}
					b.AddASN1ObjectIdentifier(oid)
					b.AddASN1OctetString([]byte(id))
				})
			})
		})
	})
	der, err := b.Bytes()
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("encode subjectAltName: %w", err)
	}
	// Critical: the subject of an attestation certificate is often empty
	// (RFC 5280 section 4.2.1.6).
	return pkix.Extension{Id: oidSubjectAltName, Critical: true, Value: der}, nil
}
