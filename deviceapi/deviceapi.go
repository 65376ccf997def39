// Package deviceapi is the wire of the device API: the paths and JSON
// bodies a paired device (the agent) exchanges with the issuer, with its
// bearer token, once pairing is done. The issuer's handlers (package
// deviceapi/deviceserver) and the agent use these types, so the two sides
// cannot drift apart. It imports nothing of the module: the agent links
// this, never the server.
package deviceapi

import "time"

// The paths of the device API, below the issuer's base URL.
const (
	PathPolicy    = "/api/v1/device/policy"    // GET: Policy
	PathToken     = "/api/v1/device/token"     // POST: RotateTokenResponse
	PathAddresses = "/api/v1/device/addresses" // PUT AddressReport: AddressAnswer
	PathStatus    = "/api/v1/device/status"    // PUT StatusReport: 204
)

// Policy is the answer of GET PathPolicy: what the device's owner allows.
type Policy struct {
	Label string `json:"label"`
	// Origins are the web origins allowed to call the device from a
	// browser (CORS and Local Network Access preflights).
	Origins []string `json:"origins"`
	// Revoked are the serials (lowercase hex) of the device's revoked
	// certificates that have not expired: a device serving one of them
	// replaces it at once rather than at ARI's next answer, hours away.
	Revoked []string `json:"revoked"`
	// Names are the names the owner gave the device (tv.ZONE, and
	// tv.local where the root permits local) that the issuer puts in its
	// certificates beside L.Z and *.L.Z: a device whose certificate
	// carries other such names renews at once, so a new short name works
	// within a minute.
	Names []string `json:"names,omitempty"`
}

// PolicyMaxAge is how long a device may use a policy before asking again
// (with If-None-Match, which usually gets 304).
const PolicyMaxAge = time.Minute

// RotateTokenResponse is the answer of POST PathToken: the device's new
// bearer token; every token it had stops working.
type RotateTokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
}

// MaxAddresses bounds how many addresses one device may report.
const MaxAddresses = 32

// AddressReport is the body of PUT PathAddresses: every address the
// device has now; [] clears them.
type AddressReport struct {
	Addresses []string `json:"addresses"`
	// Port is the TCP port the device serves HTTPS on, when not 443, for
	// the owner's links to its address-names; 0 or absent means 443.
	Port int `json:"port,omitempty"`
}

// AddressAnswer is the answer: the addresses as stored, and the
// address-names that now resolve to them.
type AddressAnswer struct {
	Addresses []string `json:"addresses"`
	Names     []string `json:"names"`
}

// MaxStatusBody bounds the body of PUT PathStatus.
const MaxStatusBody = 8 << 10

// StatusReport is the body of PUT PathStatus: the last failure of the
// device's certificate work, or "" after a success, and when it happened;
// or its name check; or both.
type StatusReport struct {
	LastError *string   `json:"last_error,omitempty"`
	At        time.Time `json:"at,omitzero"` // RFC 3339
	// NameCheck is the device's check that one of its address-names
	// resolves through its own system resolver.
	NameCheck *NameCheckReport `json:"name_check,omitempty"`
}

// NameCheckReport is the device's name check: Result "ok" (the address
// came back), "filtered" (an answer without it: a DNS-rebind filter) or
// "failed" (no answer, or NXDOMAIN), for Name, one of the device's
// address-names.
type NameCheckReport struct {
	Result string    `json:"result"`
	Name   string    `json:"name"`
	Detail string    `json:"detail,omitempty"`
	At     time.Time `json:"at,omitzero"`
}
