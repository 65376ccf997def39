// Package cli is what the lantls commands (lantls, lantls-agent,
// lantls-bench) share about their command lines: flag sets whose --help
// prints the usage and the flags, written "--name" as the documentation
// writes them, and usage errors, which exit with status 2.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// UsageError is a mistake in how a command was called (exit status 2).
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef returns a UsageError with the formatted message.
func Usagef(format string, args ...any) error {
	return &UsageError{fmt.Sprintf(format, args...)}
}

// NewFlags returns a flag set named name whose --help prints
// "Usage: usage" and the flags to stdout; the flag package itself prints
// nothing.
func NewFlags(stdout io.Writer, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		// PrintDefaults writes "-name"; both forms parse, and "--name" is
		// what the rest of the documentation uses.
		var b strings.Builder
		fs.SetOutput(&b)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		fmt.Fprintf(stdout, "Usage: %s\n\nFlags:\n%s", usage, strings.ReplaceAll("\n"+b.String(), "\n  -", "\n  --")[1:])
	}
	return fs
}

// Parse parses args into fs. --help (which prints the usage) comes back as
// flag.ErrHelp; any other error becomes a UsageError that says to run
// "command --help".
func Parse(fs *flag.FlagSet, command string, args []string) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil {
		return Usagef("%v; run '%s --help' for its flags", err, command)
	}
	return nil
}

// NoArgs fails with a UsageError when a command that takes only flags got
// more.
func NoArgs(fs *flag.FlagSet, command string) error {
	if fs.NArg() > 0 {
		return Usagef("unexpected argument %q; run '%s --help' for its flags", fs.Arg(0), command)
	}
	return nil
}
