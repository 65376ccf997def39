package acme

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lantls/lantls/acme/jws"
	"github.com/lantls/lantls/ca"
	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/keypolicy"
	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
)

// finalize turns a ready order and a CSR into a certificate (RFC 8555
// section 7.4), synchronously. The certificate is recorded, and the order
// marked valid, in one transaction before the answer, so nothing a client
// received is lost on a crash.
//
// A metered signer (ca.Metered: an upstream CA, where each signature is an
// order there) is called only after the order is claimed, ready ->
// processing, so that of two concurrent finalizes only one reaches it.
// Other signers cost only CPU: they sign first, and the one transaction
// that records the certificate also moves the order from ready to valid;
// of two concurrent finalizes the second finds the order no longer ready
// and its certificate, never sent anywhere, is dropped. That saves a write
// per issuance and leaves nothing processing after a crash.
//
// A signing failure makes the order invalid with the problem stored.
func (s *Server) finalize(w http.ResponseWriter, r *http.Request, req *request) error {
	ctx := r.Context()
	o, err := s.ownOrder(ctx, req, r.PathValue("id"))
	if err != nil {
		return err
	}
	if st := orderStatus(o, s.clock()); st != store.StatusReady {
		return problem.New(problem.OrderNotReady, "order is %s, not ready", st)
	}
	dev, err := s.activeDevice(ctx, req.account)
	if err != nil {
		return err
	}
	var p struct {
		CSR string `json:"csr"`
	}
	if err := decodePayload(req.payload, &p); err != nil {
		return err
	}
	csr, err := checkCSR(p.CSR, o, req.thumbprint, s.keyRules)
	if err != nil {
		return err
	}
	if err := s.checkAttestedKey(ctx, o, dev, csr.PublicKey); err != nil {
		return err
	}
	profile, err := s.profile(o.Profile)
	if err != nil {
		return err
	}

	sreq := ca.Request{CSR: csr, Names: o.DNSNames(), Profile: profile}
	sreq.Extra = s.extraNames(ctx, o.DeviceID)
	if o.Replaces != "" {
		if old, err := s.store.GetCertificate(ctx, o.Replaces); err == nil {
			sreq.Replaces = leafDER(old.ChainPEM)
		}
	}
	if q, ok := s.signer.(ca.Queued); ok {
		return s.finalizeQueued(w, r, q, o, sreq)
	}

	// from is the status the order has until the certificate is recorded.
	from := store.StatusReady
	if ca.IsMetered(s.signer) {
		if err := s.claim(ctx, o, nil); err != nil {
			return err
		}
		from = store.StatusProcessing
	}
	// From here on an order in processing must leave it whatever the client
	// does, so writes ignore its cancellation.
	wctx := context.WithoutCancel(ctx)
	sctx := ctx
	if from == store.StatusProcessing {
		var cancel context.CancelFunc
		sctx, cancel = context.WithTimeout(ctx, MaxProcessing)
		defer cancel()
	}
	issued, err := s.signer.Sign(sctx, sreq)
	if err == nil && (issued == nil || issued.Serial == nil || len(issued.ChainPEM) == 0) {
		err = errors.New("signer returned no certificate")
	}
	if err != nil {
		return s.failOrder(wctx, o, from, fmt.Errorf("sign: %w", err))
	}

	now := s.clock()
	cert := issued.Certificate(o, o.DNSNames(), profile.Name, now)
	// RecordCertificate checks that the device is active, reading (on
	// PostgreSQL locking) its row before any write, as admit would; the
	// certificate rate limit is taken after it in the same transaction, so
	// the device is read once, a refusal still leaves nothing written, and
	// the rows are locked in admit's order (device, then limit), the limit
	// perhaps read with the device (PostgreSQL: one round trip).
	if from == store.StatusReady {
		store.ExpectLimits(wctx, s.limits.CertificatesPerDevice.Key(o.DeviceID))
	}
	err = s.store.Update(wctx, func(tx store.Tx) error {
		if err := devices.RecordCertificate(wctx, tx, o, from, cert, ""); err != nil {
			return err
		}
		if from == store.StatusReady {
			return s.limits.CertificatesPerDevice.Take(wctx, tx, o.DeviceID, now)
		}
		return nil
	})
	if err != nil {
		o.Status, o.CertificateSerial = from, ""
		if from == store.StatusReady {
			if p := refusal(err, "order was finalized by another request"); p != nil {
				return p
			}
		}
		return s.failOrder(wctx, o, from, err)
	}
	s.metrics.issue(profile.Name)
	s.log.InfoContext(ctx, "acme certificate issued", "serial", cert.Serial, "order", o.ID,
		"account", o.AccountID, "device", o.DeviceID, "profile", profile.Name)
	w.Header().Set("Location", s.orderURL(o.ID))
	return writeJSON(w, http.StatusOK, s.orderJSON(o, now))
}

// finalizeQueued hands a ready order to a signer that signs in the
// background (ca.Queued): the claim, ready -> processing, and the signer's
// record of the work commit together, so a crash keeps both or neither.
// It then waits up to the server's finalize wait for the signer. An order
// still processing is answered as such, with Retry-After (RFC 8555
// section 7.4); one that failed is answered with its problem, so that a
// rateLimited from upstream reaches the client with its Retry-After.
func (s *Server) finalizeQueued(w http.ResponseWriter, r *http.Request, q ca.Queued, o *store.Order, req ca.Request) error {
	ctx := r.Context()
	err := s.claim(ctx, o, func(tx store.Tx) error { return q.Enqueue(ctx, tx, o.ID, req) })
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, s.finalizeWait)
	err = q.Wait(wctx, o.ID)
	cancel()
	var p *problem.Error
	if errors.As(err, &p) {
		return p
	}
	if cur, err := s.store.GetOrder(ctx, o.ID); err == nil {
		o = cur
	}
	j := s.orderJSON(o, s.clock())
	if j.Status == store.StatusProcessing {
		w.Header().Set("Retry-After", strconv.Itoa(int(processingRetry/time.Second)))
	}
	w.Header().Set("Location", s.orderURL(o.ID))
	return writeJSON(w, http.StatusOK, j)
}

// claim moves a ready order to processing, taking the device's
// certificate rate limit in the same transaction, and runs also (if not
// nil) in it; of two concurrent claims only one succeeds.
func (s *Server) claim(ctx context.Context, o *store.Order, also func(tx store.Tx) error) error {
	o.Status = store.StatusProcessing
	err := s.store.Update(ctx, func(tx store.Tx) error {
		if err := s.admit(ctx, tx, o, s.clock()); err != nil {
			return err
		}
		if err := tx.UpdateOrder(ctx, o, store.StatusReady); err != nil {
			return err
		}
		if also != nil {
			return also(tx)
		}
		return nil
	})
	if err == nil {
		return nil
	}
	o.Status = store.StatusReady
	if p := refusal(err, "order is already being finalized"); p != nil {
		return p
	}
	return fmt.Errorf("claim order: %w", err)
}

// admit is what a ready order must pass, inside the transaction that moves
// it on, before it may have a certificate: its device is active (read
// through tx, never a cache) and within its certificate rate limit.
func (s *Server) admit(ctx context.Context, tx store.Tx, o *store.Order, now time.Time) error {
	if _, err := checkDevice(ctx, tx, o.DeviceID); err != nil {
		return err
	}
	return s.limits.CertificatesPerDevice.Take(ctx, tx, o.DeviceID, now)
}

// refusal is the problem to answer when the transaction that moves a
// ready order on failed with err because admit refused it or another
// request moved the order first (conflict says so); nil if err is anything
// else.
func refusal(err error, conflict string) error {
	switch {
	case problem.Is(err, problem.RateLimited), problem.Is(err, problem.Unauthorized):
		return err
	case errors.Is(err, store.ErrConflict):
		return problem.New(problem.OrderNotReady, "%s", conflict)
	}
	return nil
}

// failOrder makes an order that has status from invalid with the problem
// cause carries (serverInternal for anything untyped) and returns cause.
func (s *Server) failOrder(ctx context.Context, o *store.Order, from store.Status, cause error) error {
	p := problem.OrInternal(cause)
	if p.Kind == problem.ServerInternal {
		p = problem.ServerInternalErr("the certificate could not be issued")
	}
	o.Status, o.Error = store.StatusInvalid, p
	if err := s.store.UpdateOrder(ctx, o, from); err != nil {
		s.log.ErrorContext(ctx, "acme cannot mark order invalid", "order", o.ID, "err", err)
	}
	return cause
}

// checkCSR decodes a finalize CSR and checks it against the order: valid
// signature, exactly the order's DNS names and nothing else, an accepted
// key (keys) that is not the account key.
func checkCSR(encoded string, o *store.Order, accountThumbprint string, keys keypolicy.Policy) (*x509.CertificateRequest, error) {
	der, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(encoded, "="))
	if err != nil || len(der) == 0 {
		return nil, problem.BadCSRErr("csr is not base64url DER")
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, problem.BadCSRErr("csr cannot be parsed")
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, problem.BadCSRErr("csr signature is invalid")
	}
	if len(csr.IPAddresses) > 0 || len(csr.EmailAddresses) > 0 || len(csr.URIs) > 0 {
		return nil, problem.BadCSRErr("csr may only name DNS names")
	}
	if err := keys.CertificateKey(csr.PublicKey); err != nil {
		return nil, err
	}
	if tp, err := jws.PublicKeyThumbprint(csr.PublicKey); err != nil || tp == accountThumbprint {
		return nil, problem.BadCSRErr("the certificate key must not be the account key")
	}
	if err := checkCSRNames(csr, o.DNSNames()); err != nil {
		return nil, err
	}
	return csr, nil
}

// checkCSRNames requires the CSR's DNS names (SANs and the common name, if
// any) to be exactly want as a set.
func checkCSRNames(csr *x509.CertificateRequest, want []string) error {
	got := map[string]bool{}
	for _, n := range csr.DNSNames {
		got[strings.ToLower(n)] = true
	}
	if cn := csr.Subject.CommonName; cn != "" {
		got[strings.ToLower(cn)] = true
	}
	var extra, missing []string
	for n := range got {
		if !slices.Contains(want, n) {
			extra = append(extra, n)
		}
	}
	for _, n := range want {
		if !got[n] {
			missing = append(missing, n)
		}
	}
	if len(extra) == 0 && len(missing) == 0 {
		return nil
	}
	slices.Sort(extra)
	var parts []string
	if len(extra) > 0 {
		parts = append(parts, "names not in the order: "+strings.Join(extra, ", "))
	}
	if len(missing) > 0 {
		parts = append(parts, "order names missing from the csr: "+strings.Join(missing, ", "))
	}
	return problem.BadCSRErr("csr names differ from the order's identifiers; %s", strings.Join(parts, "; "))
}
