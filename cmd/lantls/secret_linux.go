package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// readSecret prints prompt to w and reads a line from the terminal on
// stdin with echo off, and reports true. Without a terminal it reads a
// line from stdin, so scripts can pipe the password in, and reports false.
func readSecret(w io.Writer, prompt string) (string, bool, error) {
	fd := int(os.Stdin.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		line, err := firstLine(os.Stdin)
		return line, false, err
	}
	fmt.Fprint(w, prompt)
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON | unix.ISIG
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return "", true, fmt.Errorf("turn off echo: %w", err)
	}
	defer func() {
		unix.IoctlSetTermios(fd, unix.TCSETS, old)
		fmt.Fprintln(w)
	}()
	line, err := readLineFd(fd)
	if err != nil {
		return "", true, fmt.Errorf("read password: %w", err)
	}
	return line, true, nil
}

// readLineFd reads up to a newline byte by byte, so nothing after it is
// buffered away from later reads.
func readLineFd(fd int) (string, error) {
	var buf []byte
	b := make([]byte, 1)
	for len(buf) < 4096 {
		n, err := unix.Read(fd, b)
		if n == 0 || err != nil {
			if len(buf) > 0 {
				break
			}
			if err == nil {
				err = errors.New("no password given")
			}
			return "", err
		}
		if b[0] == '\n' {
			break
		}
		buf = append(buf, b[0])
	}
	return string(bytesTrimCR(buf)), nil
}

func bytesTrimCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return b[:len(b)-1]
	}
	return b
}

// stdinIsTerminal reports whether stdin is a terminal someone can answer
// a question on.
func stdinIsTerminal() bool {
	_, err := unix.IoctlGetTermios(int(os.Stdin.Fd()), unix.TCGETS)
	return err == nil
}
