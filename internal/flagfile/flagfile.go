// Package flagfile sets a command's flags from the environment and from a
// configuration file, so that a service runs with a short command line
// (`lantls issuer --config /etc/lantls/issuer.conf`) and every flag,
// including flags added later, has a setting of the same name with no
// code of its own.
//
// The file holds one `name = value` per line, name being a flag's name
// without dashes; blank lines and lines starting with # are ignored; a
// value in double quotes is unquoted as a Go string; a flag that can be
// repeated takes one line per value. The environment variable of a flag is
// the prefix and its name in upper case with - as _ (LANTLS_DNS_LISTEN for
// --dns-listen); LANTLS_CONFIG names the file.
//
// A setting NAME-file, where the command has a flag NAME but no flag
// NAME-file, reads NAME's value from that file (its trailing white space
// trimmed): secrets stay out of the file, the environment and the process
// list. In values, ${CREDENTIALS_DIRECTORY} is the directory where systemd
// puts the files of LoadCredential=.
//
// The command line wins over the environment, the environment over the
// file: a flag given in one replaces every value of it in the next.
package flagfile

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// maxFile bounds a configuration file and a secret file.
const maxFile = 1 << 20

// Loader applies a configuration file and the environment to a flag set.
type Loader struct {
	// SkipUnknown skips settings that name no flag, for a command that
	// reads another's file for the settings they share (lantls admin
	// reads the issuer's data and store); otherwise they are errors.
	SkipUnknown bool

	fs     *flag.FlagSet
	prefix string
	path   string
}

// Add defines --config on fs and returns the Loader to Apply once fs has
// parsed the command line. envPrefix (e.g. "LANTLS_") names the flags'
// environment variables; empty means none are read.
func Add(fs *flag.FlagSet, envPrefix string) *Loader {
	l := &Loader{fs: fs, prefix: envPrefix}
	fs.StringVar(&l.path, "config", "", "configuration `file`: one 'flag-name = value' per line; the command line and "+envPrefix+"* environment variables win over it")
	return l
}

// Apply sets the flags the command line left unset from the environment,
// then from the file of --config. getenv is os.Getenv outside tests.
func (l *Loader) Apply(getenv func(string) string) error {
	set := map[string]bool{}
	l.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if l.prefix != "" {
		if v, ok := l.lookupEnv(getenv, "config"); ok && !set["config"] {
			l.path = v
		}
		fromEnv := map[string]bool{}
		var err error
		l.fs.VisitAll(func(f *flag.Flag) {
			if err != nil || set[f.Name] || f.Name == "config" {
				return
			}
			v, ok := l.lookupEnv(getenv, f.Name)
			if ok {
				err = l.set(getenv, f.Name, v)
				fromEnv[f.Name] = true
				return
			}
			v, ok = l.lookupEnv(getenv, f.Name+"-file")
			if ok && l.fs.Lookup(f.Name+"-file") == nil {
				err = l.set(getenv, f.Name+"-file", v)
				fromEnv[f.Name] = true
			}
		})
		if err != nil {
			return err
		}
		for n := range fromEnv {
			set[n] = true
		}
	}
	if l.path == "" {
		return nil
	}
	f, err := os.Open(l.path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	defer f.Close()
	settings, err := Parse(io.LimitReader(f, maxFile))
	if err != nil {
		return fmt.Errorf("%s:%w", l.path, err)
	}
	for _, s := range settings {
		if s.Name == "config" {
			return fmt.Errorf("%s:%d: unknown setting \"config\": a file names no other file", l.path, s.Line)
		}
		if set[l.base(s.Name)] {
			continue
		}
		if err := l.set(getenv, s.Name, s.Value); err != nil {
			return fmt.Errorf("%s:%d: %w", l.path, s.Line, err)
		}
	}
	return nil
}

func (l *Loader) lookupEnv(getenv func(string) string, name string) (string, bool) {
	v := getenv(l.prefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_")))
	return v, v != ""
}

// base is the flag a setting sets: NAME for NAME-file when only NAME is a
// flag.
func (l *Loader) base(name string) string {
	if b, ok := strings.CutSuffix(name, "-file"); ok && l.fs.Lookup(name) == nil && l.fs.Lookup(b) != nil {
		return b
	}
	return name
}

// set sets the flag of one setting.
func (l *Loader) set(getenv func(string) string, name, value string) error {
	value, err := expand(getenv, value)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	target := l.base(name)
	if l.fs.Lookup(target) == nil && l.SkipUnknown {
		return nil
	}
	if l.fs.Lookup(target) == nil || target == "config" {
		return fmt.Errorf("unknown setting %q: it names no flag of this command (see --help)", name)
	}
	if target != name {
		if value, err = readSecret(value); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if err := l.fs.Set(target, value); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// readSecret reads a value from a file, trailing white space trimmed.
func readSecret(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxFile {
		return "", fmt.Errorf("%s is larger than %d bytes", path, maxFile)
	}
	return strings.TrimRight(string(b), " \t\r\n"), nil
}

// credentials is the one variable values may name: systemd's
// LoadCredential= directory.
const credentials = "CREDENTIALS_DIRECTORY"

// expand replaces ${CREDENTIALS_DIRECTORY} in v.
func expand(getenv func(string) string, v string) (string, error) {
	const ref = "${" + credentials + "}"
	if !strings.Contains(v, ref) {
		return v, nil
	}
	dir := getenv(credentials)
	if dir == "" {
		return "", fmt.Errorf("%s is not set: it is set by systemd for a unit with LoadCredential=", credentials)
	}
	return strings.ReplaceAll(v, ref, dir), nil
}

// Setting is one line of a configuration file.
type Setting struct {
	Line  int
	Name  string
	Value string
}

// Parse reads a configuration file's settings in order.
func Parse(r io.Reader) ([]Setting, error) {
	var out []Setting
	s := bufio.NewScanner(r)
	s.Buffer(nil, 64<<10)
	n := 0
	for s.Scan() {
		n++
		line := strings.TrimSpace(string(bytes.TrimPrefix(s.Bytes(), []byte("\xef\xbb\xbf"))))
		if line == "" || line[0] == '#' {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%d: %q is not 'name = value'", n, line)
		}
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		name = strings.TrimLeft(name, "-")
		if name == "" || strings.ContainsAny(name, " \t\"'") {
			return nil, fmt.Errorf("%d: %q is not a setting name: write a flag's name without dashes, e.g. zone = lan.example.net", n, name)
		}
		if len(value) >= 2 && value[0] == '"' {
			u, err := strconv.Unquote(value)
			if err != nil {
				return nil, fmt.Errorf("%d: %s: bad quoted value %s", n, name, value)
			}
			value = u
		}
		out = append(out, Setting{Line: n, Name: name, Value: value})
	}
	if err := s.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%d: line longer than 64 KiB", n+1)
		}
		return nil, err
	}
	return out, nil
}
