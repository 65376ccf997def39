// Package ratelimit holds the issuer's rate limits: GCRA (the generic cell
// rate algorithm) over keyed buckets whose state, one theoretical arrival
// time per key, lives in the store, so limits hold across restarts and
// across issuer instances. A limit is taken inside the same store
// transaction as the work it guards: a denied request writes nothing, and
// an allowed one costs no extra transaction.
package ratelimit

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/lantls/lantls/problem"
)

// Limit allows Count events per Period for each key, in bursts of up to
// Count. A zero Count disables the limit.
type Limit struct {
	Name   string
	Count  int
	Period time.Duration
}

// Enabled reports whether the limit applies.
func (l Limit) Enabled() bool { return l.Count > 0 && l.Period > 0 }

// String writes the limit as Parse reads it: "300/1h0m0s", or "off".
func (l Limit) String() string {
	if !l.Enabled() {
		return "off"
	}
	return strconv.Itoa(l.Count) + "/" + l.Period.String()
}

// Set parses "COUNT/PERIOD" (e.g. "300/1h") or "off" into l, keeping its
// Name; it makes a Limit usable as a flag.Value.
func (l *Limit) Set(s string) error {
	if s == "off" || s == "0" {
		l.Count, l.Period = 0, 0
		return nil
	}
	count, period, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(count)
	if !ok || err != nil || n < 0 {
		return fmt.Errorf("limit %q: want COUNT/PERIOD such as 300/1h, or off", s)
	}
	d, err := time.ParseDuration(period)
	if err != nil || d <= 0 {
		return fmt.Errorf("limit %q: period %q is not a positive duration such as 1h", s, period)
	}
	l.Count, l.Period = n, d
	return nil
}

// Limits are every limit the issuer enforces.
type Limits struct {
	// OrdersPerAccount bounds newOrder per ACME account.
	OrdersPerAccount Limit
	// CertificatesPerDevice bounds issuance (finalize) per device, over all
	// its accounts.
	CertificatesPerDevice Limit
	// AccountsPerSource bounds newAccount per client address (IPv4 /32,
	// IPv6 /64).
	AccountsPerSource Limit
	// FailedPairingsPerSource bounds failed pairing attempts of devices
	// per client address: the registrations whose external account
	// binding fails (an unknown or used EAB key, a wrong MAC, another
	// device's key), which is how a device pairs through a stock ACME
	// client, and unknown device codes of RFC 8628 pairing. Past it, every
	// registration and device authorization from the address is refused
	// until the limit allows again, right binding or not, so keys cannot
	// be guessed.
	FailedPairingsPerSource Limit
	// FailedCodesPerSource bounds the wrong user codes owners enter per
	// client address. It is kept apart from FailedPairingsPerSource: a
	// cross-site page can make a visitor's browser post unknown device
	// codes to the token endpoint (a simple form POST), and that must not
	// stop the visitor from entering a code.
	FailedCodesPerSource Limit
	// FailedCodesPerUser bounds the wrong pairing user codes one logged-in
	// user may enter (package pairing); past it the user cannot look up,
	// approve or deny any code until the limit allows again.
	FailedCodesPerUser Limit
	// PairingsPerSource bounds device authorization requests (RFC 8628)
	// per client address.
	PairingsPerSource Limit
	// DeviceWritesPerDevice bounds the device API's writes per device
	// (address reports that change something, status reports, token
	// rotations): a device's bearer token cannot make the issuer write,
	// or reload its DNS index, without end. Reads and unchanged reports
	// are not counted.
	DeviceWritesPerDevice Limit
	// OpenOrdersPerAccount caps an account's pending, ready and processing
	// orders that have not expired; 0 means no cap.
	OpenOrdersPerAccount int
}

// Defaults are safe for an issuer on the internet: generous for devices
// that renew every few weeks, tight for anyone who scripts abuse.
var Defaults = Limits{
	OrdersPerAccount:        Limit{Name: "orders-per-account", Count: 300, Period: time.Hour},
	CertificatesPerDevice:   Limit{Name: "certificates-per-device", Count: 50, Period: 7 * 24 * time.Hour},
	AccountsPerSource:       Limit{Name: "accounts-per-source", Count: 1000, Period: time.Hour},
	FailedPairingsPerSource: Limit{Name: "failed-pairings-per-source", Count: 30, Period: time.Hour},
	FailedCodesPerSource:    Limit{Name: "failed-codes-per-source", Count: 30, Period: time.Hour},
	FailedCodesPerUser:      Limit{Name: "failed-codes-per-user", Count: 10, Period: time.Hour},
	PairingsPerSource:       Limit{Name: "pairings-per-source", Count: 100, Period: time.Hour},
	DeviceWritesPerDevice:   Limit{Name: "device-writes-per-device", Count: 120, Period: time.Hour},
	OpenOrdersPerAccount:    100,
}

// Tx is the part of a store transaction a limit needs.
type Tx interface {
	Reader
	// SetLimitTAT stores key's theoretical arrival time; the store may
	// forget it once it is in the past.
	SetLimitTAT(ctx context.Context, key string, tat time.Time) error
}

// Key returns the store key under which the limit counts key's events,
// or "" when the limit is off: what a caller names to store.ExpectLimits.
func (l Limit) Key(key string) string {
	if !l.Enabled() {
		return ""
	}
	return l.Name + ":" + key
}

// Take counts one event for key at now inside tx. If the limit is reached
// it writes nothing and returns a rateLimited problem whose RetryAfter says
// when the next event would be allowed.
func (l Limit) Take(ctx context.Context, tx Tx, key string, now time.Time) error {
	if !l.Enabled() {
		return nil
	}
	k := l.Key(key)
	tat, err := tx.LimitTAT(ctx, k)
	if err != nil {
		return fmt.Errorf("rate limit %s: %w", l.Name, err)
	}
	next, wait := l.gcra(tat, now)
	if wait > 0 {
		return l.limited(wait)
	}
	if err := tx.SetLimitTAT(ctx, k, next); err != nil {
		return fmt.Errorf("rate limit %s: %w", l.Name, err)
	}
	return nil
}

// Refund gives back one event Take counted for key at now, inside tx.
// Work that may be refused must be limited before it runs, or a burst of
// concurrent requests would all pass a Check before any of them Takes: so
// a caller Takes first, does the expensive work, and Refunds when the event
// turned out not to count (a right password against a limit on wrong ones).
func (l Limit) Refund(ctx context.Context, tx Tx, key string, now time.Time) error {
	if !l.Enabled() {
		return nil
	}
	k := l.Key(key)
	tat, err := tx.LimitTAT(ctx, k)
	if err != nil {
		return fmt.Errorf("rate limit %s: %w", l.Name, err)
	}
	if !tat.After(now) {
		return nil
	}
	prev := tat.Add(-l.Period / time.Duration(l.Count))
	if !prev.After(now) {
		prev = time.Time{} // nothing is left in the bucket: forget the key
	}
	if err := tx.SetLimitTAT(ctx, k, prev); err != nil {
		return fmt.Errorf("rate limit %s: %w", l.Name, err)
	}
	return nil
}

// Reader is the part of a store a limit needs to be checked.
type Reader interface {
	// LimitTAT returns the theoretical arrival time stored for key, or the
	// zero time if there is none.
	LimitTAT(ctx context.Context, key string) (time.Time, error)
}

// Check reports, as Take would, whether one more event for key at now is
// allowed, without counting it.
func (l Limit) Check(ctx context.Context, r Reader, key string, now time.Time) error {
	if !l.Enabled() {
		return nil
	}
	tat, err := r.LimitTAT(ctx, l.Key(key))
	if err != nil {
		return fmt.Errorf("rate limit %s: %w", l.Name, err)
	}
	if _, wait := l.gcra(tat, now); wait > 0 {
		return l.limited(wait)
	}
	return nil
}

// Used returns how many of the limit's Count events key has used at now,
// as its stored TAT says (events free up one emission interval at a
// time), and when the next place frees up (now if one is free).
func (l Limit) Used(ctx context.Context, r Reader, key string, now time.Time) (int, time.Time, error) {
	if !l.Enabled() {
		return 0, now, nil
	}
	tat, err := r.LimitTAT(ctx, l.Key(key))
	if err != nil {
		return 0, now, fmt.Errorf("rate limit %s: %w", l.Name, err)
	}
	if !tat.After(now) {
		return 0, now, nil
	}
	interval := l.Period / time.Duration(l.Count)
	ahead := tat.Sub(now)
	used := min(int((ahead+interval-1)/interval), l.Count)
	_, wait := l.gcra(tat, now)
	return used, now.Add(wait), nil
}

// limited is the problem of an event the limit denies.
func (l Limit) limited(wait time.Duration) error {
	return problem.RateLimitedErr(wait, "%s: limit of %d per %s reached; retry after %s",
		l.Name, l.Count, l.Period, wait.Round(time.Second))
}

// gcra returns the theoretical arrival time after one more event at now
// and, if the event must be denied, how long to wait. Each event moves the
// TAT one emission interval (Period/Count) ahead; an event is allowed while
// the TAT stays within one Period of now, which allows bursts of Count.
func (l Limit) gcra(tat, now time.Time) (next time.Time, wait time.Duration) {
	interval := l.Period / time.Duration(l.Count)
	if tat.Before(now) {
		tat = now
	}
	next = tat.Add(interval)
	if allowAt := next.Add(-l.Period); allowAt.After(now) {
		return tat, allowAt.Sub(now)
	}
	return next, 0
}

// OpenOrdersTx is the part of a store transaction the cap on open orders
// needs.
type OpenOrdersTx interface {
	// CountOpenOrders counts an account's unexpired pending, ready and
	// processing orders and returns the first of their expiries.
	CountOpenOrders(ctx context.Context, accountID string, now time.Time) (int, time.Time, error)
}

// CheckOpenOrders enforces OpenOrdersPerAccount inside tx: an account that
// has as many open orders as the cap allows gets rateLimited, with a
// Retry-After until the first of them expires and so frees its place (one
// finalized sooner frees it sooner). Abandoned orders cannot pile up.
func (l Limits) CheckOpenOrders(ctx context.Context, tx OpenOrdersTx, accountID string, now time.Time) error {
	limit := l.OpenOrdersPerAccount
	if limit <= 0 {
		return nil
	}
	n, firstExpiry, err := tx.CountOpenOrders(ctx, accountID, now)
	if err != nil {
		return fmt.Errorf("rate limit open-orders-per-account: %w", err)
	}
	if n < limit {
		return nil
	}
	wait := max(firstExpiry.Sub(now), time.Second)
	return problem.RateLimitedErr(wait, "open-orders-per-account: %d orders are pending, ready or processing (limit %d); "+
		"finalize them, or retry after %s when the first expires", n, limit, wait.Round(time.Second))
}

// SourceKey returns the bucket key of a client address ("host:port" or a
// bare address): the address itself for IPv4, its /64 for IPv6, where one
// host usually holds a whole /64.
func SourceKey(remoteAddr string) string {
	host := remoteAddr
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		host = ap.Addr().String()
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	addr = addr.Unmap()
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}
