package upstream

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mholt/acmez/v3/acme"

	"github.com/lantls/lantls/ca"
	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
)

// maxSteps bounds the rounds of one obtain: an upstream order moves
// pending -> ready -> processing -> valid, a few rounds at most.
const maxSteps = 8

// obtain drives the upstream order of u from wherever it is to a
// certificate (RFC 8555 section 7.1): creates it if u has none, puts and
// answers the dns-01 challenges of pending authorizations, finalizes with
// u's CSR, waits while it is processing, and downloads the chain. With
// persist, each step's result is saved in the store before the next, so
// a restart resumes rather than repeats; TXT records expire at expires.
func (s *Signer) obtain(ctx context.Context, u *store.UpstreamOrder, expires time.Time, persist bool) (*ca.Issued, error) {
	acct, err := s.acct(ctx)
	if err != nil {
		return nil, err
	}
	if u.URL == "" {
		if persist && u.Replaces == "" {
			wait, err := s.takeBudgets(ctx, u.Names)
			if err != nil {
				return nil, err
			}
			if wait > 0 {
				u.NotBefore, u.LastError = s.now().Add(wait), errDeferred.Error()
				s.log.Info("upstream order waits for a budget", "order", u.OrderID, "wait", wait.Round(time.Second))
				return nil, errors.Join(errDeferred, s.save(ctx, u, persist, nil))
			}
		}
		order := acme.Order{Identifiers: identifiers(u.Names), Replaces: u.Replaces, Profile: u.Profile}
		if order, err = s.client.NewOrder(ctx, acct, order); err != nil {
			return nil, fmt.Errorf("new upstream order: %w", err)
		}
		u.URL = order.Location
		if err := s.save(ctx, u, persist, nil); err != nil {
			return nil, err
		}
	}
	for range maxSteps {
		order, err := s.client.GetOrder(ctx, acct, acme.Order{Location: u.URL})
		if err != nil {
			return nil, fmt.Errorf("get upstream order: %w", err)
		}
		switch order.Status {
		case acme.StatusPending:
			err = s.authorize(ctx, acct, u, order, expires, persist)
		case acme.StatusReady:
			_, err = s.client.FinalizeOrder(ctx, acct, order, u.CSR)
		case acme.StatusProcessing:
			err = s.pause(ctx)
		case acme.StatusValid:
			return s.download(ctx, acct, order.Certificate)
		default:
			if order.Error != nil {
				return nil, fmt.Errorf("%w (%s): %w", errInvalid, order.Status, *order.Error)
			}
			return nil, fmt.Errorf("%w (%s)", errInvalid, order.Status)
		}
		if err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("upstream order %s did not finish", u.URL)
}

// authorize answers the dns-01 challenge of each pending authorization of
// order: it puts the TXT records in the zone (recorded in u in the same
// transaction, so that whatever ends u removes them), waits until the
// issuer's DNS server serves them, tells the upstream to validate, and
// waits for its verdict.
func (s *Signer) authorize(ctx context.Context, acct acme.Account, u *store.UpstreamOrder, order acme.Order, expires time.Time, persist bool) error {
	var (
		authzs []acme.Authorization
		chals  []acme.Challenge
		recs   []store.TXT
	)
	for _, url := range order.Authorizations {
		a, err := s.client.GetAuthorization(ctx, acct, url)
		if err != nil {
			return fmt.Errorf("get upstream authorization: %w", err)
		}
		if a.Status == acme.StatusValid {
			continue
		}
		if a.Status != acme.StatusPending {
			return fmt.Errorf("%w: authorization for %s is %s", errInvalid, a.Identifier.Value, a.Status)
		}
		ch, ok := dns01(a)
		if !ok {
			return fmt.Errorf("%w: authorization for %s offers no dns-01 challenge", errInvalid, a.Identifier.Value)
		}
		authzs, chals = append(authzs, a), append(chals, ch)
		recs = append(recs, store.TXT{
			Name:  "_acme-challenge." + strings.ToLower(strings.TrimSuffix(a.Identifier.Value, ".")),
			Value: ch.DNS01KeyAuthorization(),
		})
	}
	if len(authzs) == 0 {
		return nil
	}
	var added []store.TXT
	for _, r := range recs {
		if !containsTXT(u.TXT, r) {
			added = append(added, r)
		}
	}
	if len(added) > 0 {
		err := s.save(ctx, u, persist, func(tx store.Tx) error {
			for _, r := range added {
				if err := tx.PutTXT(ctx, r.Name, r.Value, expires); err != nil {
					return err
				}
			}
			return nil
		}, added...)
		if err != nil {
			return err
		}
	}
	if err := s.waitDNS(ctx, recs); err != nil {
		return err
	}
	for i, ch := range chals {
		if ch.Status == acme.StatusPending {
			if _, err := s.client.InitiateChallenge(ctx, acct, ch); err != nil {
				return fmt.Errorf("answer upstream challenge for %s: %w", authzs[i].Identifier.Value, err)
			}
		}
	}
	for _, a := range authzs {
		if _, err := s.client.PollAuthorization(ctx, acct, a); err != nil {
			var ap acme.Problem
			if errors.As(err, &ap) {
				return fmt.Errorf("upstream authorization for %s: %w", a.Identifier.Value, err)
			}
			if strings.Contains(err.Error(), "took too long") || ctx.Err() != nil {
				return err
			}
			return fmt.Errorf("%w: authorization for %s: %w", errInvalid, a.Identifier.Value, err)
		}
	}
	return nil
}

// save stores u, after running also (if not nil) in the same
// transaction; added are TXT records also puts, recorded in u with it.
// Without persist only also runs.
func (s *Signer) save(ctx context.Context, u *store.UpstreamOrder, persist bool, also func(tx store.Tx) error, added ...store.TXT) error {
	ctx = context.WithoutCancel(ctx)
	next := *u
	next.TXT = append(append([]store.TXT(nil), u.TXT...), added...)
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		if also != nil {
			if err := also(tx); err != nil {
				return err
			}
		}
		if !persist {
			return nil
		}
		return tx.PutUpstreamOrder(ctx, &next)
	})
	if err != nil {
		return fmt.Errorf("save upstream order: %w", err)
	}
	*u = next
	return nil
}

// download fetches the certificate chain at url and reads its leaf.
func (s *Signer) download(ctx context.Context, acct acme.Account, url string) (*ca.Issued, error) {
	chains, err := s.client.GetCertificateChain(ctx, acct, url)
	if err != nil {
		return nil, fmt.Errorf("download upstream certificate: %w", err)
	}
	if len(chains) == 0 {
		return nil, fmt.Errorf("upstream certificate at %s is empty", url)
	}
	return issuedFrom(chains[0].ChainPEM)
}

// issuedFrom reads a PEM chain from the upstream, leaf first, and drops a
// self-signed root at its end: the issuer serves chains without roots.
func issuedFrom(chainPEM []byte) (*ca.Issued, error) {
	var certs []*x509.Certificate
	for rest := chainPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse upstream chain: %w", err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("upstream chain holds no certificate")
	}
	if n := len(certs); n > 1 && bytes.Equal(certs[n-1].RawIssuer, certs[n-1].RawSubject) {
		certs = certs[:n-1]
	}
	var out bytes.Buffer
	for _, c := range certs {
		pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	leaf := certs[0]
	return &ca.Issued{Serial: leaf.SerialNumber, NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter, DER: leaf.Raw, ChainPEM: out.Bytes()}, nil
}

// leafOf returns the DER of the first certificate of a PEM chain.
func leafOf(chainPEM []byte) []byte {
	b, _ := pem.Decode(chainPEM)
	if b == nil {
		return nil
	}
	return b.Bytes
}

// Sign gets a certificate for req from the upstream at once, outside the
// queue and the issuer's budgets: it is how the issuer gets its own HTTPS
// certificate. Its TXT records are removed before it returns.
func (s *Signer) Sign(ctx context.Context, req ca.Request) (*ca.Issued, error) {
	u := &store.UpstreamOrder{CSR: req.CSR.Raw, Names: req.Names, Profile: s.cfg.Profile}
	if req.Replaces != nil {
		if leaf, err := x509.ParseCertificate(req.Replaces); err == nil {
			u.Replaces, _ = acme.ARIUniqueIdentifier(leaf)
		}
	}
	issued, err := s.obtain(ctx, u, s.now().Add(time.Hour), false)
	if len(u.TXT) > 0 {
		derr := s.cfg.Store.Update(context.WithoutCancel(ctx), func(tx store.Tx) error { return deleteTXT(ctx, tx, u.TXT) })
		if derr != nil {
			s.log.Error("upstream TXT records cannot be removed; they expire within the hour", "err", derr)
		}
	}
	return issued, err
}

// Revoke revokes a certificate the upstream CA issued, with the upstream
// account's key (RFC 8555 section 7.6). One already revoked there is no
// error.
func (s *Signer) Revoke(ctx context.Context, leafDER []byte, reason int) error {
	if _, err := s.revoke(ctx, leafDER, reason); err != nil {
		return problem.ServerInternalErr("the upstream CA did not take the revocation; try again")
	}
	return nil
}

// revoke is Revoke that also says whether a failure may pass.
func (s *Signer) revoke(ctx context.Context, leafDER []byte, reason int) (retry bool, err error) {
	leaf, err := x509.ParseCertificate(leafDER)
	if err != nil {
		return false, err
	}
	serial := fmt.Sprintf("%x", leaf.SerialNumber)
	acct, err := s.acct(ctx)
	if err == nil {
		err = s.client.RevokeCertificate(ctx, acct, leaf, nil, reason)
	}
	var ap acme.Problem
	isProblem := errors.As(err, &ap)
	if isProblem && strings.HasSuffix(ap.Type, ":"+string(problem.AlreadyRevoked)) {
		err = nil
	}
	if err != nil {
		s.log.Error("upstream revocation failed", "serial", serial, "err", err)
		return !isProblem || ap.Status >= 500, err
	}
	s.mu.Lock()
	s.revoked[serial] = true
	s.mu.Unlock()
	s.log.Info("upstream certificate revoked", "serial", serial, "reason", reason)
	return false, nil
}

// RenewalWindow asks the upstream CA when its certificate should be
// renewed (RFC 9773), or answers what it said last, until the Retry-After
// it gave.
func (s *Signer) RenewalWindow(ctx context.Context, leafDER []byte) (start, end time.Time, err error) {
	return s.renewalWindow(ctx, leafDER, false)
}

// AskRenewalWindow asks the upstream CA now, for a caller that keeps its
// own schedule of asking (the issuer's own certificate).
func (s *Signer) AskRenewalWindow(ctx context.Context, leafDER []byte) (start, end time.Time, err error) {
	return s.renewalWindow(ctx, leafDER, true)
}

func (s *Signer) renewalWindow(ctx context.Context, leafDER []byte, fresh bool) (start, end time.Time, err error) {
	leaf, err := x509.ParseCertificate(leafDER)
	if err != nil {
		return start, end, err
	}
	id, err := acme.ARIUniqueIdentifier(leaf)
	if err != nil {
		return start, end, fmt.Errorf("upstream renewal info: %w", err)
	}
	now := s.cfg.Now()
	if start, end, ok := s.ari.get(id, now); ok && !fresh {
		return start, end, nil
	}
	ri, err := s.client.GetRenewalInfo(ctx, leaf)
	if err != nil {
		return start, end, fmt.Errorf("upstream renewal info: %w", err)
	}
	var retryAfter time.Time
	if ri.RetryAfter != nil {
		retryAfter = *ri.RetryAfter
	}
	s.ari.put(id, ri.SuggestedWindow.Start, ri.SuggestedWindow.End, retryAfter, now)
	return ri.SuggestedWindow.Start, ri.SuggestedWindow.End, nil
}

// pause waits one poll interval.
func (s *Signer) pause(ctx context.Context) error {
	t := time.NewTimer(s.cfg.PollInterval)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (s *Signer) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Microsecond) }

func identifiers(ns []string) []acme.Identifier {
	ids := make([]acme.Identifier, len(ns))
	for i, n := range ns {
		ids[i] = acme.Identifier{Type: "dns", Value: n}
	}
	return ids
}

func dns01(a acme.Authorization) (acme.Challenge, bool) {
	for _, ch := range a.Challenges {
		if ch.Type == acme.ChallengeTypeDNS01 {
			return ch, true
		}
	}
	return acme.Challenge{}, false
}

func containsTXT(rs []store.TXT, r store.TXT) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

func deleteTXT(ctx context.Context, tx store.Tx, rs []store.TXT) error {
	for _, r := range rs {
		if err := tx.DeleteTXT(ctx, r.Name, r.Value); err != nil {
			return err
		}
	}
	return nil
}
