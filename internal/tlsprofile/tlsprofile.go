// Package tlsprofile is the TLS server profile of lantls's listeners:
// Mozilla's "intermediate" configuration (ssl-config.mozilla.org, version
// 5.7), TLS 1.2 and 1.3 with only AEAD ECDHE suites in 1.2. Go's default
// TLS 1.2 list still has CBC suites, which TLS scanners flag (LUCKY13);
// TLS 1.3's suites are fixed by Go and all AEAD.
package tlsprofile

import "crypto/tls"

// CipherSuites are the TLS 1.2 suites offered, in Mozilla's order; Go has
// no DHE suites, the profile's last three.
var CipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// Apply sets c's minimum version and TLS 1.2 suites to the profile's and
// returns c.
func Apply(c *tls.Config) *tls.Config {
	c.MinVersion = tls.VersionTLS12
	c.CipherSuites = CipherSuites
	return c
}
