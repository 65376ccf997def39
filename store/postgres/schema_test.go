package postgres

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/lantls/lantls/store/internal/schema"
	"github.com/lantls/lantls/store/internal/schematest"
	"github.com/lantls/lantls/store/postgres/pgtest"
)

// The migrations make the schema written down in testdata/schema.golden
// (see schematest), and make it again after going all the way down and up.
func TestSchemaGolden(t *testing.T) {
	ctx := t.Context()
	pool, err := pgxpool.New(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := migrate(ctx, pool); err != nil {
		t.Fatalf("up: %v", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	got := dumpSchema(t, db)
	schematest.Check(t, got)

	fsys, err := schema.Migrations(schema.PostgreSQL)
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys, goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatalf("down to 0: %v", err)
	}
	if left := schematest.Strings(t, db, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'goose_db_version'
		UNION ALL SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace`); len(left) > 0 {
		t.Errorf("left after every migration went down: %v", left)
	}
	if err := migrate(ctx, pool); err != nil {
		t.Fatalf("up again: %v", err)
	}
	if again := dumpSchema(t, db); again != got {
		t.Errorf("down to 0 and up again makes another schema:\n%s", schematest.Diff(got, again))
	}
}

// dumpSchema writes the schema of db as text that compares
// line by line: the goose versions applied; every table of the public
// schema with its columns (type, nullability, default), constraints,
// indexes, triggers and row count; and the functions, their source with
// comments and layout taken out. goose's own table is left out.
func dumpSchema(t *testing.T, db *sql.DB) string {
	t.Helper()
	var b strings.Builder
	versions := schematest.Strings(t, db, `SELECT version_id::text FROM goose_db_version WHERE is_applied AND version_id > 0 ORDER BY goose_db_version.version_id`)
	fmt.Fprintf(&b, "versions %s\n", strings.Join(versions, " "))
	tables := schematest.Strings(t, db, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'goose_db_version' ORDER BY tablename`)
	for _, table := range tables {
		fmt.Fprintf(&b, "\ntable %s\n", table)
		for _, c := range schematest.Strings(t, db, `SELECT column_name || ' ' || data_type || ' nullable=' || is_nullable || ' default=' || coalesce(column_default, 'NULL')
			FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position`, table) {
			fmt.Fprintf(&b, "  column %s\n", c)
		}
		for _, c := range schematest.Strings(t, db, `SELECT conname || ' ' || pg_get_constraintdef(oid)
			FROM pg_constraint WHERE conrelid = ('public.' || $1)::regclass ORDER BY conname`, table) {
			fmt.Fprintf(&b, "  constraint %s\n", c)
		}
		for _, i := range schematest.Strings(t, db, `SELECT indexname || ': ' || indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = $1 ORDER BY indexname`, table) {
			fmt.Fprintf(&b, "  index %s\n", i)
		}
		for _, tr := range schematest.Strings(t, db, `SELECT tgname || ': ' || pg_get_triggerdef(oid)
			FROM pg_trigger WHERE tgrelid = ('public.' || $1)::regclass AND NOT tgisinternal ORDER BY tgname`, table) {
			fmt.Fprintf(&b, "  trigger %s\n", tr)
		}
		var n int
		if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM "`+table+`"`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "  rows %d\n", n)
	}
	for _, f := range schematest.Strings(t, db, `SELECT pg_get_functiondef(oid) FROM pg_proc WHERE pronamespace = 'public'::regnamespace ORDER BY proname`) {
		fmt.Fprintf(&b, "\nfunction\n  %s\n", schematest.Normalize(f))
	}
	return b.String()
}
