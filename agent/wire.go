package agent

import "time"

// The agent's side of the wire: the JSON bodies it sends to and reads
// from the issuer's pairing endpoints (RFC 8628 and the lantls extension)
// and device API, kept in this one file so that they can be swapped for
// types shared with the issuer.

// deviceAuthorization is the RFC 8628 section 3.2 response.
type deviceAuthorization struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int    `json:"expires_in"`
	Interval                int    `json:"interval"`
}

// tokenResponse is the RFC 8628 section 3.5 success response with the
// lantls extension, or its error response.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Lantls      *struct {
		Directory  string   `json:"directory"`
		EABKID     string   `json:"eab_kid"`
		EABHMACKey string   `json:"eab_hmac_key"`
		Label      string   `json:"label"`
		Zone       string   `json:"zone"`
		Names      []string `json:"names"`
	} `json:"lantls"`

	issuerCA string // not on the wire: the root that verified the answer
}

// policy is the JSON body of GET /api/v1/device/policy.
type policy struct {
	Origins []string `json:"origins"`
	// Revoked are the serials (lowercase hex) of the device's revoked
	// certificates that have not expired.
	Revoked []string `json:"revoked"`
}

// statusReport is the body of PUT /api/v1/device/status: the last failure
// of the device's certificate work, or "" after a success, shown to the
// owner as the device's last error.
type statusReport struct {
	LastError string    `json:"last_error"`
	At        time.Time `json:"at"`
}

// addressReport is the body of PUT /api/v1/device/addresses.
type addressReport struct {
	Addresses []string `json:"addresses"`
}
