package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/acme"
)

// issueXACME is one issuance with golang.org/x/crypto/acme, to compare its
// client-side cost with the lean client's. It cannot time the nonce fetch
// apart from the account, nor the download apart from finalize, and it
// fetches the directory once per device.
func (r *run) issueXACME(ctx context.Context, d Device, rec *recorder) ([][]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	c := &acme.Client{Key: key, HTTPClient: r.hc, DirectoryURL: r.o.Directory, UserAgent: "lantls-bench"}
	t := time.Now()
	lap := func(slot int) {
		now := time.Now()
		rec.add(slot, now.Sub(t))
		t = now
	}

	acct := &acme.Account{}
	if d.KID != "" {
		acct.ExternalAccountBinding = &acme.ExternalAccountBinding{KID: d.KID, Key: d.HMACKey}
	}
	if _, err := c.Register(ctx, acct, acme.AcceptTOS); err != nil {
		return nil, inStep(StepAccount, asProblem(err))
	}
	lap(slotAccount)
	var ids []acme.AuthzID
	for _, id := range identifiers(d.Names) {
		ids = append(ids, acme.AuthzID{Type: id.Type, Value: id.Value})
	}
	o, err := c.AuthorizeOrder(ctx, ids)
	if err != nil {
		return nil, inStep(StepOrder, asProblem(err))
	}
	lap(slotOrder)
	var pending []*acme.Authorization
	for _, u := range o.AuthzURLs {
		a, err := c.GetAuthorization(ctx, u)
		if err != nil {
			return nil, inStep(StepAuthz, asProblem(err))
		}
		switch a.Status {
		case acme.StatusValid:
		case acme.StatusPending:
			pending = append(pending, a)
		default:
			return nil, inStep(StepAuthz, fmt.Errorf("authorization for %s is %s", a.Identifier.Value, a.Status))
		}
	}
	lap(slotAuthz)
	if len(pending) > 0 {
		for _, a := range pending {
			if err := r.solveXACME(ctx, c, a); err != nil {
				return nil, inStep(StepChallenge, asProblem(err))
			}
		}
		lap(slotChallenge)
	}
	csr, err := newCSR(d.Names)
	if err != nil {
		return nil, inStep(StepFinalize, err)
	}
	chain, _, err := c.CreateCertFromOrder(ctx, o, csr, true)
	if err != nil {
		return nil, inStep(StepFinalize, asProblem(err))
	}
	lap(slotFinalize)
	return chain, nil
}

func (r *run) solveXACME(ctx context.Context, c *acme.Client, a *acme.Authorization) error {
	var ch *acme.Challenge
	for _, typ := range []string{"http-01", "dns-01"} {
		for _, x := range a.Challenges {
			if ch == nil && x.Type == typ {
				ch = x
			}
		}
	}
	if ch == nil {
		return fmt.Errorf("authorization for %s offers no http-01 or dns-01 challenge", a.Identifier.Value)
	}
	if ch.Type == "http-01" {
		body, err := c.HTTP01ChallengeResponse(ch.Token)
		if err != nil {
			return err
		}
		if err := r.http01.set(ch.Token, body); err != nil {
			return err
		}
		defer r.http01.remove(ch.Token)
	}
	if _, err := c.Accept(ctx, ch); err != nil {
		return err
	}
	_, err := c.WaitAuthorization(ctx, a.URI)
	return err
}

// asProblem turns x/crypto/acme's error types into *Problem so that errors
// are counted by problem type whichever client ran.
func asProblem(err error) error {
	var ae *acme.Error
	var oe *acme.OrderError
	var aze *acme.AuthorizationError
	switch {
	case errors.As(err, &ae):
		return &Problem{Type: ae.ProblemType, Detail: ae.Detail, Status: ae.StatusCode}
	case errors.As(err, &oe) && oe.Problem != nil:
		return &Problem{Type: oe.Problem.ProblemType, Detail: oe.Problem.Detail, Status: oe.Problem.StatusCode}
	case errors.As(err, &aze) && len(aze.Errors) > 0:
		return asProblem(aze.Errors[0])
	}
	return err
}
