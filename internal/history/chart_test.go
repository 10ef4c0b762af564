package history

import (
	"reflect"
	"testing"

	"github.com/smsfleet/smsfleet/internal/sms"
)

// TestHistoryHourlyChart lays out hourly counters: every hour from the first to
// the last (gaps included), one bar per non-zero count, the series the
// store does not count marked as not recorded.
func TestHistoryHourlyChart(t *testing.T) {
	c := hourlyChart(map[string]map[string]int64{
		"send":     {"2026050110": 4, "2026050112": 2},
		"delivery": {"2026050110": 3, "2026050113": 2},
		"other":    {"2026050101": 9}, // not a series: ignored
	})
	if len(c.Rows) != 4 || c.Rows[0].Hour != "2026-05-01 10:00" || c.Rows[3].Hour != "2026-05-01 13:00" {
		t.Fatalf("rows %+v", c.Rows)
	}
	if !reflect.DeepEqual(c.Rows[0].Counts, []int64{4, 3, 0, 0}) || !reflect.DeepEqual(c.Rows[1].Counts, []int64{0, 0, 0, 0}) {
		t.Errorf("counts %+v", c.Rows)
	}
	if len(c.Bars) != 4 {
		t.Errorf("%d bars, want 4", len(c.Bars))
	}
	var recorded []bool
	for _, l := range c.Legend {
		recorded = append(recorded, l.Recorded)
	}
	if !reflect.DeepEqual(recorded, []bool{true, true, false, false}) {
		t.Errorf("recorded %v", recorded)
	}
	for _, b := range c.Bars {
		if b.H <= 0 || b.Y+b.H > c.PlotBottom+1e-9 || b.X < c.PlotLeft || b.X+b.W > c.PlotRight {
			t.Errorf("bar outside the plot: %+v", b)
		}
	}
	// The tallest bar (4 sent) fills the plot's height.
	if top := c.Bars[0]; top.H != chartH-padT-padB {
		t.Errorf("tallest bar %v high, want %v", top.H, chartH-padT-padB)
	}
	if e := hourlyChart(nil); !e.Empty {
		t.Error("no counters, yet not empty")
	}
	// A long span keeps its last week.
	long := hourlyChart(map[string]map[string]int64{"send": {"2026040100": 1, "2026050100": 1}})
	if !long.Truncated || len(long.Rows) != maxHours {
		t.Errorf("long span: truncated %v, %d rows", long.Truncated, len(long.Rows))
	}
}

func TestHistoryDeliveryRate(t *testing.T) {
	for _, tc := range []struct {
		counts map[string]int64
		want   string
	}{
		{nil, "–"},
		{map[string]int64{"sent": 3, "queued": 1}, "–"},
		{map[string]int64{"delivered": 1}, "100 %"},
		{map[string]int64{"delivered": 2, "undelivered": 1}, "66.7 %"},
		{map[string]int64{"delivered": 1, "unknown": 1, "failed": 2, "sent": 5}, "25 %"},
		{map[string]int64{"failed": 1, "expired": 3}, "0 %"},
	} {
		c := countsMap(tc.counts)
		if got := deliveryRate(c); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.counts, got, tc.want)
		}
	}
}

func countsMap(m map[string]int64) map[sms.Status]int64 {
	out := map[sms.Status]int64{}
	for k, v := range m {
		out[sms.Status(k)] = v
	}
	return out
}
