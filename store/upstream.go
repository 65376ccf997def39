package store

import "time"

// UpstreamOrder is the work of signing one of our orders at an upstream
// ACME CA (ca/upstream): it exists while our order is processing, holds
// what a restarted issuer needs to resume (the device's CSR, the upstream
// order's URL) and the TXT records it put in the zone, so that none is
// left behind. It is created in the transaction that claims our order and
// deleted in the one that ends it.
type UpstreamOrder struct {
	OrderID string // our order, processing while this exists
	CSR     []byte // the device's CSR (DER), forwarded as is
	Names   []string
	Profile string // the upstream profile to ask for; empty for its default
	// Replaces is the RFC 9773 certID, at the upstream, of the
	// certificate this order renews; empty for a new certificate.
	Replaces string
	// URL is the upstream order, once created.
	URL string
	// TXT are the dns-01 records put in the zone for this order.
	TXT []TXT
	// Attempts counts the tries that failed for a reason that may pass
	// (the upstream unreachable, a budget spent).
	Attempts int
	// NotBefore is when the next try may start.
	NotBefore time.Time
	// LastError is the last failure, for the operator.
	LastError string
	CreatedAt time.Time
}

// TXT is one TXT record: Name fully qualified, lowercase, without the
// trailing dot.
type TXT struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}
