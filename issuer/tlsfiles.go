package issuer

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"time"
)

// tlsFilesPoll is how often the operator's certificate files are checked
// for a change.
const tlsFilesPoll = 2 * time.Second

// loadOperatorCert loads the operator's certificate and key
// (--tls-cert, --tls-key) and returns their modification times.
func (iss *Issuer) loadOperatorCert() (stamp string, err error) {
	stamp = fileStamp(iss.cfg.TLSCert) + "|" + fileStamp(iss.cfg.TLSKey)
	c, err := tls.LoadX509KeyPair(iss.cfg.TLSCert, iss.cfg.TLSKey)
	if err != nil {
		return stamp, fmt.Errorf("load the TLS certificate %s and key %s: %w", iss.cfg.TLSCert, iss.cfg.TLSKey, err)
	}
	iss.operatorCert.Store(&c)
	return stamp, nil
}

// watchOperatorCert reloads the operator's certificate when its files
// change (a renewal by certbot or another ACME client), until ctx is done.
// A pair that does not load, such as one caught half-renewed, is logged
// and the previous one kept.
func (iss *Issuer) watchOperatorCert(ctx context.Context, stamp string) {
	t := time.NewTicker(tlsFilesPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := fileStamp(iss.cfg.TLSCert) + "|" + fileStamp(iss.cfg.TLSKey)
		if now == stamp {
			continue
		}
		s, err := iss.loadOperatorCert()
		if err != nil {
			iss.cfg.Logger.Error("TLS certificate files changed but do not load; keeping the previous certificate", "err", err)
			continue
		}
		stamp = s
		iss.cfg.Logger.Info("TLS certificate reloaded", "cert", iss.cfg.TLSCert, "not_after", iss.operatorCert.Load().Leaf.NotAfter)
	}
}

func fileStamp(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return "missing"
	}
	return fmt.Sprintf("%d/%d", fi.ModTime().UnixNano(), fi.Size())
}
