package main

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// A run that hangs leaves the server's goroutine dump beside its progress
// log (NAME.stacks: bench/issue.sh sends the server SIGQUIT when the load
// client gives up on it, and a Go server then prints every goroutine).
// writeHangs says, for each such run, where the server's goroutines were
// waiting, so that a reader can tell a server's deadlock from a fault of
// the load client.
func writeHangs(w io.Writer, runs []*run) {
	var hung []*run
	for _, r := range runs {
		if r.stacks != "" {
			hung = append(hung, r)
		}
	}
	if len(hung) == 0 {
		return
	}
	fmt.Fprintln(w, "Where the servers that hung were waiting, from the goroutine dump each")
	fmt.Fprintln(w, "printed on SIGQUIT when the load client gave up (goroutines waiting on a")
	fmt.Fprintln(w, "lock or channel, grouped by their innermost four frames outside the")
	fmt.Fprintln(w, "runtime, innermost first):")
	fmt.Fprintln(w)
	for _, r := range hung {
		groups, total := waiting(r.stacks)
		fmt.Fprintf(w, "- %s at c=%d: %d goroutines, %d of them waiting:\n", r.server, r.concurrency, total, sum(groups))
		for i, g := range groups {
			if i == 8 {
				fmt.Fprintf(w, "  - and %d more places\n", len(groups)-i)
				break
			}
			fmt.Fprintf(w, "  - %d× `%s` in `%s`\n", g.n, g.state, g.where)
		}
	}
	fmt.Fprintln(w)
}

// A waitGroup is the goroutines of a dump waiting in one state at one place.
type waitGroup struct {
	state, where string
	n            int
}

func sum(gs []waitGroup) int {
	n := 0
	for _, g := range gs {
		n += g.n
	}
	return n
}

// waiting reads a Go goroutine dump and groups the goroutines that wait
// on a lock, a channel or a select, most first; it also says how many
// goroutines the dump holds.
func waiting(dump string) (groups []waitGroup, total int) {
	index := map[[2]string]int{}
	for _, g := range strings.Split("\n"+dump, "\ngoroutine ")[1:] {
		total++
		header, body, _ := strings.Cut(g, "\n")
		state := header
		if i := strings.IndexByte(state, '['); i >= 0 {
			state = state[i+1:]
		}
		state, _, _ = strings.Cut(state, "]")
		state, _, _ = strings.Cut(state, ",") // "chan receive, 2 minutes"
		if !isWait(state) {
			continue
		}
		where := strings.Join(frames(body, 4), " ← ")
		k := [2]string{state, where}
		if i, ok := index[k]; ok {
			groups[i].n++
			continue
		}
		index[k] = len(groups)
		groups = append(groups, waitGroup{state: state, where: where, n: 1})
	}
	slices.SortStableFunc(groups, func(a, b waitGroup) int { return cmp.Compare(b.n, a.n) })
	return groups, total
}

func isWait(state string) bool {
	for _, s := range []string{"Lock", "chan ", "select", "semacquire", "sync.Cond.Wait", "sync.WaitGroup.Wait"} {
		if strings.Contains(state, s) {
			return true
		}
	}
	return false
}

// frames gives the first n functions of a goroutine's stack that are not
// the runtime's or sync's, innermost first, without their arguments and
// module path.
func frames(body string, n int) []string {
	var out []string
	for line := range strings.SplitSeq(body, "\n") {
		if line == "" || line[0] == '\t' || strings.HasPrefix(line, "created by ") {
			continue
		}
		fn := withoutArgs(line)
		if strings.HasPrefix(fn, "runtime.") || strings.HasPrefix(fn, "sync.") || strings.HasPrefix(fn, "internal/") {
			continue
		}
		if i := strings.LastIndexByte(fn, '/'); i >= 0 {
			fn = fn[i+1:]
		}
		if strings.HasSuffix(fn, "-fm") { // a method value's wrapper: its method is the next frame
			continue
		}
		out = append(out, fn)
		if len(out) == n {
			break
		}
	}
	return out
}

// withoutArgs cuts the argument list off a stack frame's function line:
// "pkg.(*T).M(0x1, {0x2, ...})" is "pkg.(*T).M".
func withoutArgs(line string) string {
	if !strings.HasSuffix(line, ")") {
		return line
	}
	depth := 0
	for i := len(line) - 1; i >= 0; i-- {
		switch line[i] {
		case ')':
			depth++
		case '(':
			depth--
			if depth == 0 {
				return line[:i]
			}
		}
	}
	return line
}

// stacksOf is the goroutine dump beside a run's progress log, if any.
func stacksOf(progressLog string) string {
	b, err := os.ReadFile(strings.TrimSuffix(progressLog, ".log") + ".stacks")
	if err != nil || !strings.Contains(string(b), "goroutine ") {
		return ""
	}
	return string(b)
}
