package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/lantls/lantls/internal/atomicfile"
	"github.com/lantls/lantls/internal/dirlock"
)

// ErrNotExist is what a Storage returns from Get for a key it does not hold.
var ErrNotExist = errors.New("agent: not in storage")

// Storage keeps the agent's state: its account key, TLS key, certificate
// chain and pairing credentials. Every value may be secret. A device maker
// can put them in its own secure storage by implementing these three
// methods; DirStorage is the default.
type Storage interface {
	// Get returns the value of key, or an error wrapping ErrNotExist.
	Get(ctx context.Context, key string) ([]byte, error)
	// Put stores data under key so that a crash leaves the old value or
	// the new one, never part of either.
	Put(ctx context.Context, key string, data []byte) error
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// Locker is a Storage that keeps two agents from using it at once: Run,
// Reset and Wipe hold its lock while they work. DirStorage is one.
type Locker interface {
	// Lock takes the lock without waiting, or returns an error wrapping
	// ErrLocked while another holds it; unlock releases it. The lock must
	// not outlive the process, however it ends.
	Lock(ctx context.Context) (unlock func(), err error)
}

// DirStorage is a Storage in a directory: one file per key, each written
// atomically with mode 0600, in a directory of mode 0700.
type DirStorage string

// Get reads the file named key.
func (d DirStorage) Get(ctx context.Context, key string) ([]byte, error) {
	path, err := d.path(key)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotExist, key)
	}
	return b, err
}

// Put writes the file named key, creating the directory if needed.
func (d DirStorage) Put(ctx context.Context, key string, data []byte) error {
	path, err := d.path(key)
	if err != nil {
		return err
	}
	if err := d.mkdir(); err != nil {
		return err
	}
	return atomicfile.Write(path, data, 0o600)
}

// mkdir makes the directory, mode 0700.
func (d DirStorage) mkdir() error {
	if err := os.MkdirAll(string(d), 0o700); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	// MkdirAll leaves an existing directory's mode alone; the state dir
	// holds keys, so tighten it whoever made it.
	if err := os.Chmod(string(d), 0o700); err != nil {
		return fmt.Errorf("restrict state dir: %w", err)
	}
	return nil
}

// Lock locks the directory (flock on its file "lock", which the kernel
// releases when the process ends), making it if needed.
func (d DirStorage) Lock(ctx context.Context) (func(), error) {
	if err := d.mkdir(); err != nil {
		return nil, err
	}
	f, err := dirlock.Lock(string(d))
	if errors.Is(err, dirlock.ErrLocked) {
		return nil, fmt.Errorf("%w (%s): stop it first, or give this agent its own state dir", ErrLocked, string(d))
	}
	if err != nil {
		return nil, fmt.Errorf("agent: lock state dir: %w", err)
	}
	return func() {
		if f != nil {
			f.Close()
		}
	}, nil
}

// Delete removes the file named key.
func (d DirStorage) Delete(ctx context.Context, key string) error {
	path, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (d DirStorage) path(key string) (string, error) {
	if key == "" || strings.ContainsAny(key, `/\`) || key[0] == '.' {
		return "", fmt.Errorf("agent: bad storage key %q", key)
	}
	return filepath.Join(string(d), key), nil
}

// DefaultDir is where the agent keeps its state unless told otherwise:
// /var/lib/lantls-agent when run as root, else ./lantls-agent.
func DefaultDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/lantls-agent"
	}
	return "lantls-agent"
}

// lock takes s's lock if it is a Locker; unlock is never nil.
func lock(ctx context.Context, s Storage) (unlock func(), err error) {
	l, ok := s.(Locker)
	if !ok {
		return func() {}, nil
	}
	return l.Lock(ctx)
}
