//go:build !linux

package main

import (
	"fmt"
	"io"
	"os"
)

// readSecret reads a line from stdin; on this system it cannot turn echo
// off, so it says to use --password-file.
func readSecret(w io.Writer, prompt string) (string, bool, error) {
	fmt.Fprint(w, "(the password will be shown as you type; --password-file avoids that)\n"+prompt)
	line, err := firstLine(os.Stdin)
	return line, false, err
}

// stdinIsTerminal reports false: on this system no question is asked.
func stdinIsTerminal() bool { return false }
