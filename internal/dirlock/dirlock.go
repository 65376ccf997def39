// Package dirlock takes an exclusive lock on a directory that the kernel
// releases when the process ends, however it ends: one process per data
// or state directory (the issuer's data dir, the agent's state dir).
package dirlock

import (
	"errors"
	"os"
	"path/filepath"
)

// ErrLocked is what Lock returns while another process holds the lock.
var ErrLocked = errors.New("dirlock: locked by another process")

// Lock takes the lock of dir (on the file dir/lock, made if needed; dir
// must exist) without waiting. Closing the file releases it. Where the
// platform has no flock it returns the file without locking it.
func Lock(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := flock(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
