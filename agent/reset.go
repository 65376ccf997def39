package agent

import (
	"context"
	"fmt"
)

// Reset revokes the device's current certificate through ACME revokeCert
// (signed with the account key) and then deletes everything the agent
// stored, so the next Run pairs afresh. If revocation fails nothing is
// deleted and the error says why; force deletes anyway.
func (a *Agent) Reset(ctx context.Context, force bool) error {
	if a.credentials() != nil && a.accountKey() != nil {
		if cert := a.cert.Load(); cert != nil && cert.Leaf != nil {
			if err := a.revoke(ctx, cert.Leaf); err != nil && !force {
				return fmt.Errorf("agent: reset: %w (nothing was deleted)", err)
			}
		}
	}
	for _, k := range stateKeys {
		if err := a.cfg.Storage.Delete(ctx, k); err != nil {
			return fmt.Errorf("agent: reset: delete %s: %w", k, err)
		}
	}
	a.mu.Lock()
	a.state = &state{}
	a.status = Status{}
	a.ari = nil
	a.mu.Unlock()
	a.cert.Store(nil)
	return nil
}
