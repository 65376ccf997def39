package ratelimit

import (
	"context"
	"testing"
	"time"
)

func TestGCRA(t *testing.T) {
	l := Limit{Name: "test", Count: 3, Period: 3 * time.Second} // one per second, bursts of 3
	t0 := time.Unix(1_700_000_000, 0)
	tests := []struct {
		at       time.Duration // since t0
		wantWait time.Duration // 0: allowed
	}{
		{0, 0},
		{0, 0},
		{0, 0},           // burst of 3 used up
		{0, time.Second}, // fourth at once: wait one interval
		{500 * time.Millisecond, 500 * time.Millisecond},
		{time.Second, 0},           // one interval later: one more
		{time.Second, time.Second}, // and no more
		{10 * time.Second, 0},      // idle long enough: full burst again
		{10 * time.Second, 0},
		{10 * time.Second, 0},
		{10 * time.Second, time.Second},
	}
	var tat time.Time
	for i, tt := range tests {
		next, wait := l.gcra(tat, t0.Add(tt.at))
		if wait != tt.wantWait {
			t.Fatalf("event %d at +%v: wait %v, want %v", i, tt.at, wait, tt.wantWait)
		}
		if wait == 0 {
			tat = next
		} else if !next.Equal(tat) && tat.After(t0.Add(tt.at)) {
			t.Fatalf("event %d: a denied event moved the TAT from %v to %v", i, tat, next)
		}
	}
}

func TestLimitSet(t *testing.T) {
	tests := []struct {
		in     string
		want   Limit
		hasErr bool
	}{
		{in: "300/1h", want: Limit{Count: 300, Period: time.Hour}},
		{in: "5/30s", want: Limit{Count: 5, Period: 30 * time.Second}},
		{in: "off", want: Limit{}},
		{in: "0", want: Limit{}},
		{in: "300", hasErr: true},
		{in: "x/1h", hasErr: true},
		{in: "-1/1h", hasErr: true},
		{in: "3/0s", hasErr: true},
		{in: "3/soon", hasErr: true},
	}
	for _, tt := range tests {
		l := Limit{Name: "n", Count: 9, Period: time.Minute}
		err := l.Set(tt.in)
		if (err != nil) != tt.hasErr {
			t.Errorf("Set(%q) err = %v, want error %v", tt.in, err, tt.hasErr)
			continue
		}
		if tt.hasErr {
			continue
		}
		tt.want.Name = "n"
		if l != tt.want {
			t.Errorf("Set(%q) = %+v, want %+v", tt.in, l, tt.want)
		}
		if tt.want.Enabled() != (l.String() != "off") {
			t.Errorf("String() = %q for %+v", l.String(), l)
		}
	}
}

func TestSourceKey(t *testing.T) {
	tests := map[string]string{
		"192.0.2.7:4431":             "192.0.2.7",
		"192.0.2.7":                  "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[::ffff:192.0.2.7]:80":      "192.0.2.7",
		"not-an-address":             "not-an-address",
	}
	for in, want := range tests {
		if got := SourceKey(in); got != want {
			t.Errorf("SourceKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// mapTx is a store of TATs in a map.
type mapTx map[string]time.Time

func (m mapTx) LimitTAT(_ context.Context, key string) (time.Time, error) { return m[key], nil }
func (m mapTx) SetLimitTAT(_ context.Context, key string, tat time.Time) error {
	m[key] = tat
	return nil
}

// TestCheckAgreesWithTake: Check allows exactly when Take would, and
// counts nothing.
func TestCheckAgreesWithTake(t *testing.T) {
	l := Limit{Name: "test", Count: 2, Period: time.Minute}
	ctx := context.Background()
	tx := mapTx{}
	now := time.Unix(1_700_000_000, 0)
	for i := range 4 {
		checked := l.Check(ctx, tx, "k", now)
		checkedAgain := l.Check(ctx, tx, "k", now)
		taken := l.Take(ctx, tx, "k", now)
		if (checked == nil) != (taken == nil) || (checked == nil) != (checkedAgain == nil) {
			t.Fatalf("event %d: Check = %v, again %v, Take = %v", i, checked, checkedAgain, taken)
		}
		if want := i < 2; (taken == nil) != want {
			t.Fatalf("event %d: Take = %v, want allowed %v", i, taken, want)
		}
	}
	if err := (Limit{}).Check(ctx, tx, "k", now); err != nil {
		t.Errorf("disabled limit: Check = %v", err)
	}
}

// TestRefund: a refunded event frees its place, and refunds never give
// more than was taken.
func TestRefund(t *testing.T) {
	l := Limit{Name: "test", Count: 2, Period: time.Minute}
	ctx := context.Background()
	tx := mapTx{}
	now := time.Unix(1_700_000_000, 0)
	for i := range 2 {
		if err := l.Take(ctx, tx, "k", now); err != nil {
			t.Fatalf("take %d: %v", i, err)
		}
	}
	if err := l.Take(ctx, tx, "k", now); err == nil {
		t.Fatal("third take allowed")
	}
	if err := l.Refund(ctx, tx, "k", now); err != nil {
		t.Fatal(err)
	}
	if err := l.Take(ctx, tx, "k", now); err != nil {
		t.Fatalf("take after refund: %v", err)
	}
	for range 5 {
		if err := l.Refund(ctx, tx, "k", now); err != nil {
			t.Fatal(err)
		}
	}
	if tat := tx["test:k"]; !tat.IsZero() {
		t.Errorf("after refunding everything the TAT is %v, want none", tat)
	}
	for i := range 2 {
		if err := l.Take(ctx, tx, "k", now); err != nil {
			t.Fatalf("take %d after refunds: %v", i, err)
		}
	}
	if err := l.Take(ctx, tx, "k", now); err == nil {
		t.Fatal("refunds gave more than was taken")
	}
}

func TestUsed(t *testing.T) {
	l := Limit{Name: "test", Count: 4, Period: 4 * time.Hour} // one an hour
	ctx := context.Background()
	tx := mapTx{}
	now := time.Unix(1_700_000_000, 0)
	if n, free, _ := l.Used(ctx, tx, "k", now); n != 0 || !free.Equal(now) {
		t.Errorf("unused: %d, %v", n, free)
	}
	for range 4 {
		l.Take(ctx, tx, "k", now)
	}
	if n, free, _ := l.Used(ctx, tx, "k", now); n != 4 || !free.Equal(now.Add(time.Hour)) {
		t.Errorf("all used: %d, free at +%v; want 4, +1h", n, free.Sub(now))
	}
	if n, free, _ := l.Used(ctx, tx, "k", now.Add(90*time.Minute)); n != 3 || !free.Equal(now.Add(90*time.Minute)) {
		t.Errorf("90 minutes later: %d, free at %v; want 3, now", n, free)
	}
}
