package acme

import (
	"encoding/base64"
	"time"

	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
)

// The JSON objects of RFC 8555 section 7.1, as this server sends them.

type directoryJSON struct {
	NewNonce    string            `json:"newNonce"`
	NewAccount  string            `json:"newAccount"`
	NewOrder    string            `json:"newOrder"`
	RevokeCert  string            `json:"revokeCert"`
	KeyChange   string            `json:"keyChange"`
	RenewalInfo string            `json:"renewalInfo"`
	Meta        directoryMetaJSON `json:"meta"`
}

type directoryMetaJSON struct {
	ExternalAccountRequired bool              `json:"externalAccountRequired"`
	Profiles                map[string]string `json:"profiles,omitempty"`
}

type accountJSON struct {
	Status    store.Status `json:"status"`
	Contact   []string     `json:"contact,omitempty"`
	Orders    string       `json:"orders"`
	CreatedAt time.Time    `json:"createdAt,omitzero"`
}

type orderJSON struct {
	Status         store.Status       `json:"status"`
	Expires        time.Time          `json:"expires"`
	Identifiers    []store.Identifier `json:"identifiers"`
	Authorizations []string           `json:"authorizations"`
	Finalize       string             `json:"finalize"`
	Certificate    string             `json:"certificate,omitempty"`
	Error          *problem.Document  `json:"error,omitempty"`
	Profile        string             `json:"profile,omitempty"`
	Replaces       string             `json:"replaces,omitempty"`
}

type ordersJSON struct {
	Orders []string `json:"orders"`
}

type authorizationJSON struct {
	Identifier store.Identifier `json:"identifier"`
	Status     store.Status     `json:"status"`
	Expires    time.Time        `json:"expires"`
	Challenges []challengeJSON  `json:"challenges"`
	Wildcard   bool             `json:"wildcard,omitempty"`
}

type challengeJSON struct {
	Type      string            `json:"type"`
	URL       string            `json:"url"`
	Token     string            `json:"token"`
	Status    store.Status      `json:"status"`
	Validated time.Time         `json:"validated,omitzero"`
	Error     *problem.Document `json:"error,omitempty"`
}

type renewalInfoJSON struct {
	SuggestedWindow windowJSON `json:"suggestedWindow"`
}

type windowJSON struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

func (s *Server) accountJSON(a *store.Account) accountJSON {
	return accountJSON{
		Status:    a.Status,
		Contact:   a.Contact,
		Orders:    s.ordersURL(a.ID),
		CreatedAt: a.CreatedAt,
	}
}

// orderJSON renders o with the status it has at now.
func (s *Server) orderJSON(o *store.Order, now time.Time) orderJSON {
	j := orderJSON{
		Status:      orderStatus(o, now),
		Expires:     o.Expires,
		Identifiers: o.Identifiers,
		Finalize:    s.finalizeURL(o.ID),
		Profile:     o.Profile,
	}
	for _, id := range o.AuthorizationIDs {
		j.Authorizations = append(j.Authorizations, s.authzURL(id))
	}
	if o.CertificateSerial != "" && j.Status == store.StatusValid {
		j.Certificate = s.certURL(o.CertificateSerial)
	}
	if o.Error != nil {
		j.Error = o.Error.Document()
	}
	if o.Replaces != "" {
		j.Replaces = s.certID(o.Replaces)
	}
	return j
}

func (s *Server) authorizationJSON(a *store.Authorization, now time.Time) authorizationJSON {
	j := authorizationJSON{
		Identifier: a.Identifier,
		Status:     authorizationStatus(a, now),
		Expires:    a.Expires,
		Wildcard:   a.Wildcard,
		Challenges: []challengeJSON{},
	}
	for i := range a.Challenges {
		j.Challenges = append(j.Challenges, s.challengeJSON(a, &a.Challenges[i]))
	}
	return j
}

func (s *Server) challengeJSON(a *store.Authorization, c *store.Challenge) challengeJSON {
	j := challengeJSON{
		Type:      c.Type,
		URL:       s.challengeURL(a.ID, c.Type),
		Token:     c.Token,
		Status:    c.Status,
		Validated: c.Validated,
	}
	if c.Error != nil {
		j.Error = c.Error.Document()
	}
	return j
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
