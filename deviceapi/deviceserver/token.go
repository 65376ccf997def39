package deviceserver

import (
	"fmt"
	"net/http"

	"github.com/lantls/lantls/deviceapi"
	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
)

// serveToken serves POST deviceapi.PathToken: the calling device gets a
// new bearer token, and every token it had, the one it called with
// included, stops working, in the transaction that takes the write from
// its limit and records the rotation in its owner's audit log.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, d *store.Device) error {
	ctx := r.Context()
	var token string
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		if err := s.takeWrite(ctx, tx, d); err != nil {
			return err
		}
		// Read again where the tokens change: an unpair may have come
		// since the token was checked.
		d, err := tx.GetDevice(ctx, d.ID)
		if err != nil {
			return err
		}
		if d.Status != store.StatusActive {
			return problem.UnauthorizedErr("the device is %s", d.Status)
		}
		now := s.cfg.Now()
		n, err := tx.RevokeDeviceTokens(ctx, d.ID, now)
		if err != nil {
			return err
		}
		if token, err = NewToken(ctx, tx, d.ID, now); err != nil {
			return err
		}
		return devices.AuditDevice(ctx, tx, d, "device "+d.Label, devices.AuditToken, fmt.Sprintf("bearer token rotated, %d revoked", n))
	})
	if err != nil {
		return fmt.Errorf("rotate token: %w", err)
	}
	writeJSON(w, &deviceapi.RotateTokenResponse{AccessToken: token, TokenType: "Bearer"})
	return nil
}
