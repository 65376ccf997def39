package trust

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"strings"

	"github.com/lantls/lantls/ca/local"
)

// MobileConfigType is the media type iOS, iPadOS and macOS open
// configuration profiles by.
const MobileConfigType = "application/x-apple-aspen-config"

// MobileConfig returns an Apple configuration profile that installs root
// as a trusted root (payload type com.apple.security.root) on iPhone, iPad
// and macOS. Its identifiers and UUIDs derive from the root's
// fingerprint, so downloading it again gives the same profile, which the
// device replaces rather than adds.
func MobileConfig(root *x509.Certificate) []byte {
	sum := sha256.Sum256(root.Raw)
	id := fmt.Sprintf("net.lantls.root.%x", sum[:8])
	d := local.Describe(root)
	desc := "Lets this device trust certificates that " + d.Subject + " issues, for the names it permits: " +
		strings.Join(d.Permitted, ", ") + ". SHA-256 " + d.Fingerprint + "."
	if !d.Constrained {
		desc = "This root has no name constraints: it could vouch for any name. SHA-256 " + d.Fingerprint + "."
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString(`<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">` + "\n")
	b.WriteString("<plist version=\"1.0\">\n<dict>\n<key>PayloadContent</key>\n<array>\n<dict>\n")
	plistString(&b, "PayloadCertificateFileName", "lantls-root.crt")
	fmt.Fprintf(&b, "<key>PayloadContent</key>\n<data>%s</data>\n", base64.StdEncoding.EncodeToString(root.Raw))
	plistString(&b, "PayloadDescription", desc)
	plistString(&b, "PayloadDisplayName", d.Subject)
	plistString(&b, "PayloadIdentifier", id+".certificate")
	plistString(&b, "PayloadType", "com.apple.security.root")
	plistString(&b, "PayloadUUID", uuidFrom(sum[:], "certificate"))
	b.WriteString("<key>PayloadVersion</key>\n<integer>1</integer>\n</dict>\n</array>\n")
	plistString(&b, "PayloadDescription", desc)
	plistString(&b, "PayloadDisplayName", d.Subject)
	plistString(&b, "PayloadIdentifier", id)
	b.WriteString("<key>PayloadRemovalDisallowed</key>\n<false/>\n")
	plistString(&b, "PayloadType", "Configuration")
	plistString(&b, "PayloadUUID", uuidFrom(sum[:], "profile"))
	b.WriteString("<key>PayloadVersion</key>\n<integer>1</integer>\n</dict>\n</plist>\n")
	return b.Bytes()
}

func plistString(b *bytes.Buffer, key, value string) {
	fmt.Fprintf(b, "<key>%s</key>\n<string>", key)
	xml.EscapeText(b, []byte(value))
	b.WriteString("</string>\n")
}

// uuidFrom makes a name-based UUID (RFC 9562 section 5.8, version 8) from
// seed and name.
func uuidFrom(seed []byte, name string) string {
	h := sha256.Sum256(append(append([]byte(nil), seed...), name...))
	u := h[:16]
	u[6] = u[6]&0x0f | 0x80
	u[8] = u[8]&0x3f | 0x80
	return strings.ToUpper(fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16]))
}
