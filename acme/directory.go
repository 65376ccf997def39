package acme

import (
	"net/http"
)

// directory serves the ACME directory (RFC 8555 section 7.1.1). There is no
// newAuthz: names are authorized by the device's pairing, per order.
func (s *Server) directory(w http.ResponseWriter, r *http.Request) error {
	d := directoryJSON{
		NewNonce:    s.url("new-nonce"),
		NewAccount:  s.url("new-account"),
		NewOrder:    s.url("new-order"),
		RevokeCert:  s.url("revoke-cert"),
		KeyChange:   s.url("key-change"),
		RenewalInfo: s.url("renewal-info"),
		Meta: directoryMetaJSON{
			ExternalAccountRequired: true,
			Profiles:                make(map[string]string, len(s.profiles)),
		},
	}
	for name, p := range s.profiles {
		d.Meta.Profiles[name] = p.Description
	}
	return writeJSON(w, http.StatusOK, d)
}

// newNonce answers HEAD with 200 and GET with 204 (RFC 8555 section
// 7.2); the nonce itself is in the Replay-Nonce header every response has.
func (s *Server) newNonce(w http.ResponseWriter, r *http.Request) error {
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return nil
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
