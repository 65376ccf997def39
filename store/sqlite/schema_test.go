package sqlite

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lantls/lantls/store/internal/schematest"
)

// The migrations make the schema written down in testdata/schema.golden
// (see schematest), and make it again after going all the way down and up.
func TestSchemaGolden(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "lantls.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(ON)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got := dumpSchema(t, db)
	schematest.Check(t, got)

	// Down to nothing and up again gives the same schema.
	p, err := migrator(db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatalf("down to 0: %v", err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
	if again := dumpSchema(t, db); again != got {
		t.Errorf("down to 0 and up again makes another schema:\n%s", schematest.Diff(got, again))
	}
}

// dumpSchema writes db's schema as text that compares line by line: the
// goose versions applied, then every table (its statement, columns,
// indexes, foreign keys and row count), index and trigger of
// sqlite_schema, with the statements' comments and layout taken out.
func dumpSchema(t *testing.T, db *sql.DB) string {
	t.Helper()
	ctx := t.Context()
	var b strings.Builder
	versions := schematest.Strings(t, db, `SELECT version_id FROM goose_db_version WHERE is_applied AND version_id > 0 ORDER BY version_id`)
	fmt.Fprintf(&b, "versions %s\n", strings.Join(versions, " "))
	rows, err := db.QueryContext(ctx, `SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_schema
		WHERE name NOT LIKE 'goose%' AND name NOT LIKE 'sqlite%' ORDER BY type DESC, tbl_name, name`)
	if err != nil {
		t.Fatal(err)
	}
	type object struct{ typ, name, table, sql string }
	var objects []object
	for rows.Next() {
		var o object
		if err := rows.Scan(&o.typ, &o.name, &o.table, &o.sql); err != nil {
			t.Fatal(err)
		}
		objects = append(objects, o)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	for _, o := range objects {
		fmt.Fprintf(&b, "\n%s %s on %s\n  %s\n", o.typ, o.name, o.table, schematest.Normalize(o.sql))
		if o.typ != "table" {
			continue
		}
		for _, c := range schematest.Strings(t, db, `SELECT cid || ' ' || name || ' ' || type || ' notnull=' || "notnull" || ' default=' || coalesce(dflt_value, 'NULL') || ' pk=' || pk || ' hidden=' || hidden FROM pragma_table_xinfo(?)`, o.name) {
			fmt.Fprintf(&b, "  column %s\n", c)
		}
		for _, i := range schematest.Strings(t, db, `SELECT name || ' unique=' || "unique" || ' origin=' || origin || ' partial=' || partial || ' (' || (SELECT group_concat(coalesce(x.name, '<expr>') || CASE x.desc WHEN 1 THEN ' DESC' ELSE '' END, ', ') FROM pragma_index_xinfo(l.name) x WHERE x.key) || ')' FROM pragma_index_list(?) l ORDER BY name`, o.name) {
			fmt.Fprintf(&b, "  index %s\n", i)
		}
		for _, f := range schematest.Strings(t, db, `SELECT id || ' ' || seq || ' ' || "from" || ' -> ' || "table" || '(' || coalesce("to", '') || ') on update ' || on_update || ' on delete ' || on_delete FROM pragma_foreign_key_list(?) ORDER BY id, seq`, o.name) {
			fmt.Fprintf(&b, "  foreign key %s\n", f)
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM "`+o.name+`"`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "  rows %d\n", n)
	}
	return b.String()
}
