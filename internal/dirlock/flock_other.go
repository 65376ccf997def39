//go:build !unix

package dirlock

import "os"

// flock does nothing where flock is missing.
func flock(*os.File) error { return nil }
