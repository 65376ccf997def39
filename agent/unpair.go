package agent

import (
	"context"
	"errors"
	"net/http"

	"github.com/mholt/acmez/v3/acme"

	"github.com/lantls/lantls/deviceapi"
)

// confirmUnpaired reports whether the issuer no longer knows the device:
// its device API refuses the bearer token (401), and its ACME server
// refuses the account (unauthorized: the account was deactivated;
// accountDoesNotExist: the issuer forgot it). Both must say so, so that
// neither a proxy's stray 401 nor an account problem alone wipes a
// working device. An account never registered leaves the 401 alone to
// decide.
func (a *Agent) confirmUnpaired(ctx context.Context) bool {
	resp, err := a.deviceAPI(ctx, http.MethodGet, deviceapi.PathPolicy, nil, http.Header{"Accept": {"application/json"}})
	if err == nil {
		resp.Body.Close()
		return false
	}
	var se *statusError
	if !errors.As(err, &se) || se.code != http.StatusUnauthorized {
		return false
	}
	creds := a.credentials()
	if creds.AccountURL == "" {
		return true
	}
	_, err = a.newACMEClient(creds.Directory).GetAccount(ctx, acme.Account{PrivateKey: a.accountKey()})
	return isProblem(err, "unauthorized", "accountDoesNotExist")
}
