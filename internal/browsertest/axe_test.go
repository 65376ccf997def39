package browsertest_test

import (
	"net/url"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/lantls/lantls/internal/browsertest"
)

// TestAxeFindsViolations checks that the accessibility check sees what it
// must: white text on a light green button (2.5:1) and an unlabelled
// input, and nothing on the same page done right.
func TestAxeFindsViolations(t *testing.T) {
	browsertest.RequireAxe(t)
	ctx := browsertest.Start(t, browsertest.Options{})
	for _, c := range []struct {
		html string
		want []string
	}{
		{`<!doctype html><html lang="en"><title>bad</title><main><button style="background:#3fa66b;color:#fff">Go</button><input name="x"></main></html>`,
			[]string{"color-contrast", "label"}},
		{`<!doctype html><html lang="en"><title>good</title><main><h1>Good</h1><button style="background:#1f5f4a;color:#fff">Go</button><label>X <input name="x"></label></main></html>`,
			nil},
	} {
		if err := chromedp.Do(ctx, chromedp.Navigate("data:text/html,"+url.PathEscape(c.html))); err != nil {
			t.Fatal(err)
		}
		vs, err := browsertest.Axe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, v := range vs {
			got[v.ID] = true
		}
		for _, id := range c.want {
			if !got[id] {
				t.Errorf("axe missed %s on %s; found %v", id, c.html, vs)
			}
		}
		if c.want == nil && len(vs) > 0 {
			t.Errorf("axe found %v on a page without faults", vs)
		}
	}
}
