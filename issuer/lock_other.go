//go:build !unix

package issuer

import "os"

// lockDataDir does nothing where flock is missing: run one issuer per data
// dir.
func lockDataDir(dir string) (*os.File, error) { return nil, nil }
