package issuer

import (
	"errors"
	"fmt"
	"os"

	"github.com/lantls/lantls/internal/dirlock"
)

// lockDataDir takes an exclusive lock on DIR/lock that the kernel releases
// when the process ends, however it ends: one issuer per data dir, because
// the issuer keeps spent nonces in memory and SQLite serves one process
// best. Where flock is missing it locks nothing: run one issuer per data
// dir.
func lockDataDir(dir string) (*os.File, error) {
	f, err := dirlock.Lock(dir)
	if errors.Is(err, dirlock.ErrLocked) {
		return nil, &ConfigError{Field: "DataDir", Err: fmt.Errorf("another issuer is running with data dir %s: stop it, or use another data dir", dir)}
	}
	if err != nil {
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	return f, nil
}
