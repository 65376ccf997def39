// Package schematest holds a backend's schema to a golden file: each
// backend's test dumps the schema its migrations make, as text, and Check
// compares it with testdata/schema.golden. What the migration files say
// may change shape (comments, layout, one source for both dialects); the
// schema a database gets may not, unless its golden file changes with it.
//
//	go test -run TestSchemaGolden ./store/sqlite ./store/postgres -update
//
// rewrites the golden files from the migrations as they are.
package schematest

import (
	"database/sql"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/schema.golden from the migrations")

// Golden is where a backend's package keeps its schema's golden dump.
const Golden = "testdata/schema.golden"

// Check fails t unless dump is the content of Golden; with -update it
// writes dump there first.
func Check(t testing.TB, dump string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(Golden, []byte(dump), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(Golden)
	if err != nil {
		t.Fatalf("%v (-update writes it)", err)
	}
	if dump != string(want) {
		t.Errorf("the migrations make another schema than %s (-update rewrites it):\n%s", Golden, Diff(string(want), dump))
	}
}

// Diff lists the lines only in want (-) and those only in got (+).
func Diff(want, got string) string {
	lines := func(s string) map[string]bool {
		m := map[string]bool{}
		for l := range strings.SplitSeq(s, "\n") {
			m[l] = true
		}
		return m
	}
	w, g := lines(want), lines(got)
	var b strings.Builder
	for l := range strings.SplitSeq(want, "\n") {
		if !g[l] {
			fmt.Fprintf(&b, "- %s\n", l)
		}
	}
	for l := range strings.SplitSeq(got, "\n") {
		if !w[l] {
			fmt.Fprintf(&b, "+ %s\n", l)
		}
	}
	return b.String()
}

var (
	comment = regexp.MustCompile(`--[^\n]*`)
	space   = regexp.MustCompile(`\s+`)
	punct   = regexp.MustCompile(`\s*([(),;])\s*`)
)

// Normalize takes the comments and the layout out of a statement as the
// database keeps it (SQLite keeps the text of CREATE statements, comments
// and all; PostgreSQL the source of functions).
func Normalize(stmt string) string {
	s := comment.ReplaceAllString(stmt, " ")
	s = space.ReplaceAllString(s, " ")
	s = punct.ReplaceAllString(s, "$1 ")
	return strings.TrimSpace(s)
}

// Strings returns the one text column of query's rows, failing t on any
// error.
func Strings(t testing.TB, db *sql.DB, query string, args ...any) []string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
