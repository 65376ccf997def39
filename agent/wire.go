package agent

import "github.com/lantls/lantls/deviceapi"

// The agent's side of the wire: the JSON bodies it sends to and reads
// from the issuer's pairing endpoints (RFC 8628 and the lantls extension)
// and device API, kept in this one file. The device API's are the
// issuer's own types, from package deviceapi.

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

// The device API's bodies are the issuer's own (package deviceapi).
type (
	policy        = deviceapi.Policy
	statusReport  = deviceapi.StatusReport
	addressReport = deviceapi.AddressReport
	nameCheck     = deviceapi.NameCheckReport
)
