package sqlstore

import (
	"strconv"
	"strings"
	"testing"
)

func TestRebind(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`SELECT 1`, `SELECT 1`},
		{`SELECT a FROM t WHERE id = ?`, `SELECT a FROM t WHERE id = $1`},
		{`INSERT INTO t (a, b) VALUES (?, ?) ON CONFLICT DO NOTHING`, `INSERT INTO t (a, b) VALUES ($1, $2) ON CONFLICT DO NOTHING`},
		{`SELECT '?' FROM t WHERE a = ? AND b = 'x?y' AND c = ?`, `SELECT '?' FROM t WHERE a = $1 AND b = 'x?y' AND c = $2`},
	} {
		if got := Rebind(tt.in); got != tt.want {
			t.Errorf("Rebind(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// Every statement has as many numbered placeholders as ? ones, and IDs
// that index All.
func TestStatements(t *testing.T) {
	for i, q := range All {
		if q.ID != i {
			t.Errorf("statement %d has ID %d", i, q.ID)
		}
		n := strings.Count(q.SQL, "?")
		if n > 0 && !strings.Contains(q.Numbered, "$"+strconv.Itoa(n)) || strings.Contains(q.Numbered, "?") {
			t.Errorf("statement %q rebinds to %q", q.SQL, q.Numbered)
		}
	}
}
