package schema

import (
	"io/fs"
	"os"
	"strings"
	"testing"
)

func TestRender(t *testing.T) {
	src := `-- +goose Up
CREATE TABLE t (
    k {{blob}} PRIMARY KEY,
-- +sqlite
    n INTEGER
-- +postgres
    n BOOLEAN
-- +end
) {{without_rowid}};
-- +goose Down
DROP TABLE t;
`
	for d, want := range map[Dialect]string{
		SQLite:     "-- +goose Up\nCREATE TABLE t (\n    k BLOB PRIMARY KEY,\n\n    n INTEGER\n\n\n\n) WITHOUT ROWID;\n-- +goose Down\nDROP TABLE t;\n",
		PostgreSQL: "-- +goose Up\nCREATE TABLE t (\n    k BYTEA PRIMARY KEY,\n\n\n\n    n BOOLEAN\n\n);\n-- +goose Down\nDROP TABLE t;\n",
	} {
		got, err := Render([]byte(src), d)
		if err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		if string(got) != want {
			t.Errorf("%s: got\n%s\nwant\n%s", d, got, want)
		}
	}
}

func TestRenderRejects(t *testing.T) {
	for src, want := range map[string]string{
		"CREATE TABLE t (k {{text}});\n":      "line 1: unknown token {{text}}",
		"x\n-- +sqlite\nCREATE TABLE t ();\n": "line 2: -- +sqlite has no -- +end",
		"-- +end\n":                           "line 1:",
		"-- +mysql\n-- +end\n":                "line 1:",
	} {
		_, err := Render([]byte(src), SQLite)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Render(%q) = %v, want an error %q...", src, err, want)
		}
	}
}

// Each dialect gets its own migrations and not the other's, every one
// with its Up, and no token left.
func TestMigrations(t *testing.T) {
	only := map[Dialect]string{SQLite: "00160_processing_since.sql", PostgreSQL: "00100_processing_since.sql"}
	for d, other := range map[Dialect]Dialect{SQLite: PostgreSQL, PostgreSQL: SQLite} {
		fsys, err := Migrations(d)
		if err != nil {
			t.Fatal(err)
		}
		names, err := fs.Glob(fsys, "*.sql")
		if err != nil {
			t.Fatal(err)
		}
		if len(names) < 13 {
			t.Errorf("%s: only %d migrations", d, len(names))
		}
		var found bool
		for _, name := range names {
			b, err := fs.ReadFile(fsys, name)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), "{{") || !strings.Contains(string(b), "-- +goose Up") {
				t.Errorf("%s: %s keeps a token or lacks its Up", d, name)
			}
			found = found || name == only[d]
			if name == only[other] {
				t.Errorf("%s: has %s, %s's only", d, name, other)
			}
		}
		if !found {
			t.Errorf("%s: %s missing", d, only[d])
		}
	}
	if _, err := Migrations("mysql"); err == nil {
		t.Error("Migrations of an unknown dialect: no error")
	}
}

// The backends' old migration folders stay gone: a file added there would
// be embedded by nothing and never run.
func TestNoMigrationsOutsideSchema(t *testing.T) {
	for _, dir := range []string{"../../sqlite/migrations", "../../postgres/migrations"} {
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("store/%s exists: migrations are written once, in store/internal/schema/migrations (see its package doc)", strings.TrimPrefix(dir, "../../"))
		}
	}
}
