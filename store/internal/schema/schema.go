// Package schema is the one source of both backends' schema: the goose
// migrations in migrations/*.sql, written once, with the differences
// between SQLite and PostgreSQL made explicit, and rendered for each
// backend when it opens its database.
//
// A migration file is goose SQL, with two additions:
//
//   - Tokens for the types and options the dialects spell differently:
//     {{blob}} is BLOB in SQLite, BYTEA in PostgreSQL; {{without_rowid}}
//     after a table's closing parenthesis is SQLite's WITHOUT ROWID and
//     nothing in PostgreSQL (the blanks before a token that renders to
//     nothing go with it).
//   - Blocks for what cannot be shared (trigger bodies, a column of
//     another type): lines between "-- +sqlite" and "-- +end" are
//     SQLite's only, between "-- +postgres" and "-- +end" PostgreSQL's
//     only; one block may follow another directly. A file whose goose
//     annotations all stand in one dialect's block is that dialect's
//     migration only (00100 and 00160 add the same column under each
//     backend's own number).
//
// A marker line renders as an empty line, so that goose's line numbers
// still point into the source. Version numbers, the Up and Down of each
// file and goose's annotations are untouched: a database migrated by
// the two copies these files replace is at the versions they give.
package schema

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
)

//go:embed migrations/*.sql
var sources embed.FS

// Dialect names a backend's SQL dialect; its name is its block marker.
type Dialect string

const (
	SQLite     Dialect = "sqlite"
	PostgreSQL Dialect = "postgres"
)

// tokens is what each token renders to in each dialect.
var tokens = map[Dialect]map[string]string{
	SQLite:     {"blob": "BLOB", "without_rowid": "WITHOUT ROWID"},
	PostgreSQL: {"blob": "BYTEA", "without_rowid": ""},
}

// Migrations returns the migrations rendered for d, as a flat fs.FS for
// goose.NewProvider: NNNNN_name.sql at its root.
func Migrations(d Dialect) (fs.FS, error) {
	if _, ok := tokens[d]; !ok {
		return nil, fmt.Errorf("schema: unknown dialect %q", d)
	}
	names, err := fs.Glob(sources, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	out := files{}
	for _, name := range names {
		src, err := sources.ReadFile(name)
		if err != nil {
			return nil, err
		}
		sql, err := Render(src, d)
		if err != nil {
			return nil, fmt.Errorf("schema: %s: %w", name, err)
		}
		if bytes.Contains(sql, []byte("-- +goose Up")) {
			out[path.Base(name)] = sql
		}
	}
	return out, nil
}

var token = regexp.MustCompile(`([ \t]*)\{\{(\w+)\}\}`)

// Render renders one migration's source for d: the other dialect's
// blocks and the marker lines become empty lines, tokens their text.
func Render(src []byte, d Dialect) ([]byte, error) {
	var out bytes.Buffer
	var block Dialect // "": both dialects
	blockLine := 0
	for i, line := range strings.SplitAfter(string(src), "\n") {
		if marker, ok := strings.CutPrefix(strings.TrimSpace(line), "-- +"); ok && !strings.HasPrefix(marker, "goose") {
			switch _, known := tokens[Dialect(marker)]; {
			case marker == "end" && block != "":
				block = ""
			case known:
				block, blockLine = Dialect(marker), i+1
			default:
				return nil, fmt.Errorf("line %d: %q is neither -- +sqlite, -- +postgres nor the -- +end of one", i+1, strings.TrimSpace(line))
			}
			out.WriteString("\n")
			continue
		}
		if block != "" && block != d {
			out.WriteString("\n")
			continue
		}
		var unknown string
		line = token.ReplaceAllStringFunc(line, func(m string) string {
			sub := token.FindStringSubmatch(m)
			text, ok := tokens[d][sub[2]]
			switch {
			case !ok:
				unknown = sub[2]
				return m
			case text == "":
				return ""
			}
			return sub[1] + text
		})
		if unknown != "" {
			return nil, fmt.Errorf("line %d: unknown token {{%s}}", i+1, unknown)
		}
		out.WriteString(line)
	}
	if block != "" {
		return nil, fmt.Errorf("line %d: -- +%s has no -- +end", blockLine, block)
	}
	return out.Bytes(), nil
}

// files is a flat, read-only fs.FS of rendered migrations: what goose
// reads of it is Glob and Open.
type files map[string][]byte

func (f files) Open(name string) (fs.File, error) {
	b, ok := f[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &file{name: name, size: int64(len(b)), Reader: bytes.NewReader(b)}, nil
}

func (f files) Glob(pattern string) ([]string, error) {
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, err
	}
	var names []string
	for name := range f {
		if ok, _ := path.Match(pattern, name); ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names, nil
}

// file is an open migration, and its own fs.FileInfo.
type file struct {
	name string
	size int64
	*bytes.Reader
}

func (f *file) Stat() (fs.FileInfo, error) { return f, nil }
func (f *file) Close() error               { return nil }
func (f *file) Name() string               { return f.name }
func (f *file) Size() int64                { return f.size }
func (f *file) Mode() fs.FileMode          { return 0o444 }
func (f *file) ModTime() time.Time         { return time.Time{} }
func (f *file) IsDir() bool                { return false }
func (f *file) Sys() any                   { return nil }
