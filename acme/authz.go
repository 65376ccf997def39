package acme

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
)

// authorization reads an authorization by POST-as-GET or deactivates it
// with {"status":"deactivated"} (RFC 8555 sections 7.5 and 7.5.2).
func (s *Server) authorization(w http.ResponseWriter, r *http.Request, req *request) error {
	ctx := r.Context()
	a, err := s.ownAuthorization(ctx, req, r.PathValue("id"))
	if err != nil {
		return err
	}
	now := s.clock()
	if len(req.payload) > 0 {
		var p struct {
			Status store.Status `json:"status"`
		}
		if err := decodePayload(req.payload, &p); err != nil {
			return err
		}
		switch p.Status {
		case "":
		case store.StatusDeactivated:
			if a, err = s.deactivateAuthorization(ctx, a.ID, now); err != nil {
				return err
			}
		default:
			return problem.MalformedErr("an authorization's status can only be changed to %q", store.StatusDeactivated)
		}
	}
	return writeJSON(w, http.StatusOK, s.authorizationJSON(a, now))
}

// challenge reads a challenge (POST-as-GET) or answers a client's request
// to validate it ({}, or {"attObj": ...} for device-attest-01).
// Challenges of authorizations that the pairing made valid are valid
// already and stay so.
func (s *Server) challenge(w http.ResponseWriter, r *http.Request, req *request) error {
	a, err := s.ownAuthorization(r.Context(), req, r.PathValue("authzID"))
	if err != nil {
		return err
	}
	typ := r.PathValue("type")
	for i := range a.Challenges {
		c := &a.Challenges[i]
		if c.Type != typ {
			continue
		}
		if c.Type == challengeDeviceAttest && len(req.payload) > 0 {
			return s.answerDeviceAttest(w, r, req, a, c)
		}
		if len(req.payload) > 0 {
			var p struct{}
			if err := decodePayload(req.payload, &p); err != nil {
				return err
			}
		}
		w.Header().Add("Link", "<"+s.authzURL(a.ID)+`>;rel="up"`)
		return writeJSON(w, http.StatusOK, s.challengeJSON(a, c))
	}
	return problem.NotFoundErr("authorization has no %s challenge", typ)
}

// deactivateAuthorization deactivates a pending or valid authorization,
// reading it afresh in the same transaction.
func (s *Server) deactivateAuthorization(ctx context.Context, id string, now time.Time) (*store.Authorization, error) {
	var a *store.Authorization
	err := s.store.Update(ctx, func(tx store.Tx) error {
		var err error
		if a, err = tx.GetAuthorization(ctx, id); err != nil {
			return fmt.Errorf("get authorization: %w", err)
		}
		if st := authorizationStatus(a, now); st != store.StatusPending && st != store.StatusValid {
			return problem.MalformedErr("authorization is %s and cannot be deactivated", st)
		}
		a.Status = store.StatusDeactivated
		if err := tx.UpdateAuthorization(ctx, a); err != nil {
			return fmt.Errorf("deactivate authorization: %w", err)
		}
		return nil
	})
	return a, err
}

// ownAuthorization loads an authorization of the account that signed req.
func (s *Server) ownAuthorization(ctx context.Context, req *request, id string) (*store.Authorization, error) {
	a, err := s.store.GetAuthorization(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, problem.NotFoundErr("authorization %s does not exist", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get authorization: %w", err)
	}
	if err := sameAccount(req, a.AccountID); err != nil {
		return nil, err
	}
	return a, nil
}
