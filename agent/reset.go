package agent

import (
	"context"
	"fmt"
)

// Reset revokes the device's current certificate through ACME revokeCert
// (signed with the account key) and then wipes the storage, so the next
// Run pairs afresh. If revocation fails nothing is deleted and the error
// says why; force wipes anyway. It returns the serial of the certificate
// it revoked, "" when it revoked none. Run must not be running: Reset
// takes the storage's lock.
func (a *Agent) Reset(ctx context.Context, force bool) (revoked string, err error) {
	unlock, err := lock(ctx, a.cfg.Storage)
	if err != nil {
		return "", err
	}
	defer unlock()
	if a.credentials() != nil && a.accountKey() != nil {
		if cert := a.cert.Load(); cert != nil && cert.Leaf != nil {
			if err := a.revoke(ctx, cert.Leaf); err == nil {
				revoked = fmtSerial(cert.Leaf)
			} else if !force {
				return "", fmt.Errorf("agent: reset: %w (nothing was deleted)", err)
			} else {
				a.log.Warn("reset: the certificate was not revoked; wiping anyway", "serial", fmtSerial(cert.Leaf), "err", err)
			}
		}
	}
	if err := wipe(ctx, a.cfg.Storage); err != nil {
		return revoked, err
	}
	a.forget()
	return revoked, nil
}

// Wipe deletes everything the agent keeps in s, whatever state it is in
// (it parses nothing), so that the next Run pairs afresh. It revokes
// nothing: use Reset for that when the state loads. It fails while an
// agent runs on s.
func Wipe(ctx context.Context, s Storage) error {
	unlock, err := lock(ctx, s)
	if err != nil {
		return err
	}
	defer unlock()
	return wipe(ctx, s)
}

func wipe(ctx context.Context, s Storage) error {
	for _, k := range stateKeys {
		if err := s.Delete(ctx, k); err != nil {
			return fmt.Errorf("agent: wipe: delete %s: %w", k, err)
		}
	}
	return nil
}

// forget drops the agent's state from memory after a wipe and stops
// serving its certificate.
func (a *Agent) forget() {
	a.mu.Lock()
	a.state = &state{}
	a.status = Status{}
	a.ari = nil
	a.mu.Unlock()
	a.cert.Store(nil)
	a.pending.Store(nil)
}
