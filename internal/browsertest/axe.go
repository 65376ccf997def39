package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// axePath is axe-core's browser build, installed by npm from axe/package.json
// (scripts/test runs `npm ci --prefix internal/browsertest/axe`).
func axePath() string {
	if p := os.Getenv("LANTLS_AXE"); p != "" {
		return p
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "axe", "node_modules", "axe-core", "axe.min.js")
}

var axeSource = sync.OnceValues(func() (string, error) {
	b, err := os.ReadFile(axePath())
	return string(b), err
})

// AxeViolation is one rule axe-core found broken on a page, with the
// elements that break it.
type AxeViolation struct {
	ID          string `json:"id"`
	Impact      string `json:"impact"` // minor, moderate, serious or critical
	Help        string `json:"help"`
	HelpURL     string `json:"helpUrl"`
	Description string `json:"description"`
	Nodes       []struct {
		Target  []any  `json:"target"`
		HTML    string `json:"html"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

func (v AxeViolation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %s", v.ID, v.Impact, v.Help)
	for _, n := range v.Nodes {
		fmt.Fprintf(&b, "\n    %v %s\n      %s", n.Target, n.HTML, strings.ReplaceAll(n.Summary, "\n", "\n      "))
	}
	return b.String()
}

// Axe runs axe-core (WCAG 2.x A and AA rules, and its best practices) on
// the page ctx shows and returns what it found broken. The script goes in
// through the DevTools protocol, so the page's CSP does not stop it.
func Axe(ctx context.Context) ([]AxeViolation, error) {
	src, err := axeSource()
	if err != nil {
		return nil, fmt.Errorf("axe-core: %w (install it: npm ci --prefix internal/browsertest/axe)", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](src+";0")); err != nil {
		return nil, fmt.Errorf("load axe-core: %w", err)
	}
	const run = `axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]}, resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations))`
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](run, chromedp.EvalAwaitPromise))
	if err != nil {
		return nil, fmt.Errorf("run axe-core: %w", err)
	}
	var vs []AxeViolation
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		return nil, fmt.Errorf("axe-core result: %w", err)
	}
	return vs, nil
}

// RequireAxe skips t when axe-core is not installed, or fails it when
// LANTLS_E2E_REQUIRE is set.
func RequireAxe(t testing.TB) {
	t.Helper()
	if _, err := axeSource(); err == nil {
		return
	}
	msg := "needs axe-core: npm ci --prefix internal/browsertest/axe"
	if os.Getenv("LANTLS_E2E_REQUIRE") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// CheckAccessible fails t for every serious or critical axe-core violation
// on the page ctx shows, naming the page by what.
func CheckAccessible(t testing.TB, ctx context.Context, what string) {
	t.Helper()
	vs, err := Axe(ctx)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	for _, v := range vs {
		if v.Impact == "serious" || v.Impact == "critical" {
			t.Errorf("%s: %s", what, v)
		}
	}
}
