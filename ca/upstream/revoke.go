package upstream

import (
	"context"
	"time"
)

// revokeSyncPeriod is how often revocations made outside ACME (the owner
// UI, lantls admin, unpairing) are looked for.
const revokeSyncPeriod = 30 * time.Second

// syncRevocations tells the upstream CA about every certificate the issuer
// has revoked, until ctx is done: revokeCert from a device is forwarded
// before it is recorded, but the owner's UI and lantls admin revoke a
// device's certificates in the store alone. The first pass after a start
// tells the CA again about each unexpired revoked certificate, which costs
// one request each and is answered alreadyRevoked; a failure that may
// pass (the CA unreachable) is tried again next pass.
func (s *Signer) syncRevocations(ctx context.Context) {
	done := map[string]bool{}
	t := time.NewTicker(revokeSyncPeriod)
	defer t.Stop()
	for {
		revoked, err := s.cfg.Store.ListRevoked(ctx, s.now())
		if err != nil && ctx.Err() == nil {
			s.log.Error("upstream revocations: list revoked certificates", "err", err)
		}
		for _, rc := range revoked {
			if done[rc.Serial] || ctx.Err() != nil {
				continue
			}
			s.mu.Lock()
			forwarded := s.revoked[rc.Serial]
			s.mu.Unlock()
			cert, err := s.cfg.Store.GetCertificate(ctx, rc.Serial)
			if forwarded || err != nil {
				done[rc.Serial] = true
				continue
			}
			// Done, or refused for good (a certificate the CA does not
			// know, such as one of the local CA from before): not again.
			if retry, _ := s.revoke(ctx, leafOf(cert.ChainPEM), rc.Reason); !retry {
				done[rc.Serial] = true
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
