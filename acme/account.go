package acme

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"strings"

	"github.com/lantls/lantls/acme/jws"
	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/ratelimit"
	"github.com/lantls/lantls/store"
)

// maxContacts bounds the contact list of an account.
const maxContacts = 10

// newAccount creates an account bound to a device through external account
// binding, or returns the account that already has the key (RFC 8555
// section 7.3).
func (s *Server) newAccount(w http.ResponseWriter, r *http.Request, req *request) error {
	ctx := r.Context()
	var p struct {
		Contact                []string        `json:"contact"`
		OnlyReturnExisting     bool            `json:"onlyReturnExisting"`
		ExternalAccountBinding json.RawMessage `json:"externalAccountBinding"`
	}
	if err := decodePayload(req.payload, &p); err != nil {
		return err
	}
	existing, err := s.store.GetAccountByThumbprint(ctx, req.thumbprint)
	switch {
	case err == nil:
		return s.existingAccount(w, existing)
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("get account by key: %w", err)
	case p.OnlyReturnExisting:
		return problem.New(problem.AccountDoesNotExist, "no account has this key")
	case len(p.ExternalAccountBinding) == 0 || string(p.ExternalAccountBinding) == "null":
		return problem.New(problem.ExternalAccountRequired, "an externalAccountBinding with the device's EAB key is required")
	}
	if err := checkContacts(p.Contact); err != nil {
		return err
	}
	source := ratelimit.SourceKey(r.RemoteAddr)
	eab, dev, err := s.checkBinding(ctx, p.ExternalAccountBinding, req)
	if errors.Is(err, errEABUsed) {
		// A repeat of a registration that another request with the same
		// key finished since the lookup above (Caddy registers once per
		// name at the same time) gets that account; another key is refused.
		if existing, gerr := s.store.GetAccountByThumbprint(ctx, req.thumbprint); gerr == nil {
			return s.existingAccount(w, existing)
		}
	}
	if err != nil {
		return s.failedPairing(ctx, source, err)
	}
	jwk, err := jws.MarshalKey(req.key)
	if err != nil {
		return err
	}
	now := s.clock()
	acct := &store.Account{
		ID:            store.NewID(now),
		DeviceID:      dev.ID,
		KeyThumbprint: req.thumbprint,
		KeyJWK:        jwk,
		Contact:       p.Contact,
		Status:        store.StatusValid,
		EABKID:        eab.KID,
		CreatedAt:     now,
	}
	var keyTaken bool
	// Both limits may be read in one round trip (PostgreSQL).
	store.ExpectLimits(ctx, s.limits.FailedPairingsPerSource.Key(source), s.limits.AccountsPerSource.Key(source))
	err = s.store.Update(ctx, func(tx store.Tx) error {
		keyTaken = false
		// A source past its failed pairings is refused even a right
		// binding, so that guessing until one works gains nothing.
		if err := s.limits.FailedPairingsPerSource.Check(ctx, tx, source, now); err != nil {
			return err
		}
		if err := s.limits.AccountsPerSource.Take(ctx, tx, source, now); err != nil {
			return err
		}
		if err := tx.CreateAccount(ctx, acct); err != nil {
			keyTaken = errors.Is(err, store.ErrConflict)
			return fmt.Errorf("create account: %w", err)
		}
		err := tx.UseEABKey(ctx, eab.KID, acct.ID, now)
		if errors.Is(err, store.ErrConflict) {
			return errEABUsed
		}
		if err != nil {
			return fmt.Errorf("use EAB key: %w", err)
		}
		return nil
	})
	if keyTaken {
		// Another request with the same key won the race.
		existing, err := s.store.GetAccountByThumbprint(ctx, req.thumbprint)
		if err != nil {
			return fmt.Errorf("get account by key after conflict: %w", err)
		}
		return s.existingAccount(w, existing)
	}
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "acme account created", "account", acct.ID, "device", dev.ID)
	w.Header().Set("Location", s.accountURL(acct.ID))
	return writeJSON(w, http.StatusCreated, s.accountJSON(acct))
}

// errEABUsed refuses a binding whose EAB key already registered an account
// with another account key: one EAB key, one account key.
var errEABUsed = problem.UnauthorizedErr("EAB key already used: it registered an account with another key; " +
	"sign with that account's key, or ask the device's owner for a new EAB key")

// failedPairing counts a registration whose binding failed with err
// against its source's failed pairings and returns err, or rateLimited
// once the source has used them up.
func (s *Server) failedPairing(ctx context.Context, source string, err error) error {
	if !problem.Is(err, problem.Unauthorized) && !problem.Is(err, problem.Malformed) {
		return err
	}
	limit := s.limits.FailedPairingsPerSource
	lerr := s.store.Update(ctx, func(tx store.Tx) error { return limit.Take(ctx, tx, source, s.clock()) })
	if problem.Is(lerr, problem.RateLimited) {
		return lerr
	}
	if lerr != nil {
		s.log.ErrorContext(ctx, "acme cannot count a failed pairing", "err", lerr)
	}
	return err
}

// existingAccount answers a newAccount for a key that already has an
// account.
func (s *Server) existingAccount(w http.ResponseWriter, a *store.Account) error {
	if a.Status != store.StatusValid {
		return problem.UnauthorizedErr("the account with this key is %s", a.Status)
	}
	w.Header().Set("Location", s.accountURL(a.ID))
	return writeJSON(w, http.StatusOK, s.accountJSON(a))
}

// checkBinding verifies an external account binding for the key that signed
// req and returns its unused EAB key and active device.
func (s *Server) checkBinding(ctx context.Context, raw json.RawMessage, req *request) (*store.EABKey, *store.Device, error) {
	b, err := jws.ParseBinding(raw)
	if err != nil {
		return nil, nil, err
	}
	if b.URL != req.url {
		return nil, nil, problem.MalformedErr("externalAccountBinding url %q is not %q", b.URL, req.url)
	}
	eab, err := s.store.GetEABKey(ctx, b.KeyID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, problem.UnauthorizedErr("unknown EAB key ID")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("get EAB key: %w", err)
	}
	bound, err := b.Verify(eab.HMACKey)
	if err != nil {
		return nil, nil, err
	}
	if tp, err := jws.Thumbprint(bound); err != nil || tp != req.thumbprint {
		return nil, nil, problem.UnauthorizedErr("externalAccountBinding binds a different key than the one that signed the request")
	}
	if eab.Disabled {
		return nil, nil, problem.UnauthorizedErr("EAB key %s is disabled; ask the device's owner for a new one", eab.KID)
	}
	if !eab.UsedAt.IsZero() || eab.AccountID != "" {
		return nil, nil, errEABUsed
	}
	dev, err := s.store.GetDevice(ctx, eab.DeviceID)
	if err != nil {
		return nil, nil, fmt.Errorf("get device of EAB key: %w", err)
	}
	if dev.Status != store.StatusActive {
		return nil, nil, problem.UnauthorizedErr("device is %s", dev.Status)
	}
	if dev.KeyThumbprint != "" && dev.KeyThumbprint != req.thumbprint {
		return nil, nil, problem.UnauthorizedErr("this device was paired with a different key")
	}
	return eab, dev, nil
}

// checkContacts accepts mailto: URLs with one plain address each.
func checkContacts(contacts []string) error {
	if len(contacts) > maxContacts {
		return problem.New(problem.InvalidContact, "at most %d contacts are allowed", maxContacts)
	}
	for _, c := range contacts {
		addr, ok := strings.CutPrefix(c, "mailto:")
		if !ok {
			return problem.New(problem.UnsupportedContact, "contact %q is not a mailto: URL", c)
		}
		parsed, err := mail.ParseAddress(addr)
		if err != nil || parsed.Name != "" || parsed.Address != addr || strings.ContainsAny(addr, ",?") {
			return problem.New(problem.InvalidContact, "contact %q must be mailto: with exactly one plain address", c)
		}
	}
	return nil
}

// account reads, updates or deactivates an account (RFC 8555 sections
// 7.3.2 and 7.3.6).
func (s *Server) account(w http.ResponseWriter, r *http.Request, req *request) error {
	if err := sameAccount(req, r.PathValue("id")); err != nil {
		return err
	}
	acct := req.account
	if len(req.payload) > 0 {
		var p struct {
			Contact *[]string    `json:"contact"`
			Status  store.Status `json:"status"`
		}
		if err := decodePayload(req.payload, &p); err != nil {
			return err
		}
		if p.Status != "" && p.Status != store.StatusDeactivated {
			return problem.MalformedErr("an account's status can only be changed to %q", store.StatusDeactivated)
		}
		if p.Contact != nil {
			if err := checkContacts(*p.Contact); err != nil {
				return err
			}
		}
		var err error
		if acct, err = s.updateAccount(r.Context(), req, func(a *store.Account) {
			if p.Contact != nil {
				a.Contact = *p.Contact
			}
			if p.Status != "" {
				a.Status = p.Status
			}
		}); err != nil {
			return err
		}
		if acct.Status != store.StatusValid {
			s.log.InfoContext(r.Context(), "acme account deactivated", "account", acct.ID)
		}
	}
	w.Header().Set("Location", s.accountURL(acct.ID))
	return writeJSON(w, http.StatusOK, s.accountJSON(acct))
}

// accountOrders lists an account's orders, oldest first, a page at a time;
// the next page is in a Link rel="next" header.
func (s *Server) accountOrders(w http.ResponseWriter, r *http.Request, req *request) error {
	id := r.PathValue("id")
	if err := sameAccount(req, id); err != nil {
		return err
	}
	if err := postAsGet(req); err != nil {
		return err
	}
	ids, err := s.store.ListOrderIDs(r.Context(), id, r.URL.Query().Get("cursor"), s.pageSize+1)
	if err != nil {
		return fmt.Errorf("list orders: %w", err)
	}
	if len(ids) > s.pageSize {
		ids = ids[:s.pageSize]
		next := s.ordersURL(id) + "?cursor=" + url.QueryEscape(ids[len(ids)-1])
		w.Header().Add("Link", "<"+next+`>;rel="next"`)
	}
	list := ordersJSON{Orders: make([]string, 0, len(ids))}
	for _, oid := range ids {
		list.Orders = append(list.Orders, s.orderURL(oid))
	}
	return writeJSON(w, http.StatusOK, list)
}

// keyChange rolls an account over to a new key (RFC 8555 section 7.3.5).
// The account keeps its device, so the device's label and names stay.
func (s *Server) keyChange(w http.ResponseWriter, r *http.Request, req *request) error {
	ctx := r.Context()
	inner, err := jws.Parse(req.payload)
	if err != nil {
		return innerProblem(err)
	}
	if inner.Key == nil {
		return problem.MalformedErr("inner JWS must carry the new key as jwk")
	}
	if inner.URL != req.url {
		return problem.MalformedErr("inner JWS url %q is not %q", inner.URL, req.url)
	}
	if err := s.keyRules.AccountKey(inner.Key.Key); err != nil {
		return innerProblem(err)
	}
	payload, err := inner.Verify(inner.Key)
	if err != nil {
		return innerProblem(err)
	}
	var p struct {
		Account string          `json:"account"`
		OldKey  json.RawMessage `json:"oldKey"`
	}
	if err := decodePayload(payload, &p); err != nil {
		return err
	}
	if p.Account != s.accountURL(req.account.ID) {
		return problem.MalformedErr("inner JWS account %q is not the outer kid", p.Account)
	}
	oldKey, err := jws.ParseKey(p.OldKey)
	if err != nil {
		return problem.MalformedErr("oldKey is not a valid JWK")
	}
	if tp, err := jws.Thumbprint(oldKey); err != nil || tp != req.thumbprint {
		return problem.MalformedErr("oldKey is not the account's current key")
	}
	newThumb, err := jws.Thumbprint(inner.Key)
	if err != nil {
		return err
	}
	if newThumb == req.thumbprint {
		return problem.MalformedErr("the new key is the account's current key")
	}
	if err := s.keyInUse(ctx, newThumb); err != nil {
		return err
	}
	jwk, err := jws.MarshalKey(inner.Key)
	if err != nil {
		return err
	}
	updated, err := s.updateAccount(ctx, req, func(a *store.Account) {
		a.KeyThumbprint, a.KeyJWK = newThumb, jwk
	})
	if errors.Is(err, store.ErrConflict) {
		// Another account took the key between the check and the update.
		if err := s.keyInUse(ctx, newThumb); err != nil {
			return err
		}
	}
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "acme account key changed", "account", updated.ID)
	w.Header().Set("Location", s.accountURL(updated.ID))
	return writeJSON(w, http.StatusOK, s.accountJSON(updated))
}

// updateAccount applies change to the account that signed req, reading it
// afresh in the same transaction so that concurrent updates (a contact
// change and a key change, say) do not undo each other. The account must
// still be valid and still have the key that signed req.
func (s *Server) updateAccount(ctx context.Context, req *request, change func(a *store.Account)) (*store.Account, error) {
	var updated *store.Account
	err := s.store.Update(ctx, func(tx store.Tx) error {
		a, err := tx.GetAccount(ctx, req.account.ID)
		if err != nil {
			return fmt.Errorf("get account: %w", err)
		}
		if a.Status != store.StatusValid {
			return problem.UnauthorizedErr("account is %s", a.Status)
		}
		if a.KeyThumbprint != req.thumbprint {
			return problem.UnauthorizedErr("the account's key changed while the request was served")
		}
		change(a)
		if err := tx.UpdateAccount(ctx, a); err != nil {
			return fmt.Errorf("update account: %w", err)
		}
		updated = a
		return nil
	})
	return updated, err
}

// keyInUse returns a 409 naming the account that has the key, if any.
func (s *Server) keyInUse(ctx context.Context, thumbprint string) error {
	other, err := s.store.GetAccountByThumbprint(ctx, thumbprint)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("get account by new key: %w", err)
	}
	return problem.ConflictErr(s.accountURL(other.ID), "the new key is already used by another account")
}

// innerProblem marks a problem with keyChange's inner JWS as such.
func innerProblem(err error) error {
	var p *problem.Error
	if !errors.As(err, &p) {
		return err
	}
	q := *p
	q.Detail = "inner JWS: " + p.Detail
	return &q
}
