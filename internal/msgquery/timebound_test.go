package msgquery

import (
	"testing"
	"time"
)

func TestTimeBound(t *testing.T) {
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		raw  string
		end  bool
		want time.Time
		bad  bool
	}{
		{"", false, time.Time{}, false},
		{"2026-12-01", false, day, false},
		{"2026-12-01", true, day.Add(24*time.Hour - time.Millisecond), false},
		{"2026-12-01T10:00:00+01:00", false, day.Add(9 * time.Hour), false},
		{"yesterday", false, time.Time{}, true},
		{"2026-13-01", true, time.Time{}, true},
	} {
		got, err := TimeBound(c.raw, c.end)
		if (err != nil) != c.bad || !got.Equal(c.want) {
			t.Errorf("TimeBound(%q, %v) = %v, %v; want %v (error: %v)", c.raw, c.end, got, err, c.want, c.bad)
		}
	}
}
