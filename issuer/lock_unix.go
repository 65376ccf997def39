//go:build unix

package issuer

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockDataDir takes an exclusive lock on DIR/lock that the kernel releases
// when the process ends, however it ends: one issuer per data dir, because
// the issuer keeps spent nonces in memory and SQLite serves one process
// best.
func lockDataDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(dir+"/lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &ConfigError{Field: "DataDir", Err: fmt.Errorf("another issuer is running with data dir %s: stop it, or use another data dir", dir)}
		}
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	return f, nil
}
