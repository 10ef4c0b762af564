package history

import (
	"fmt"
	"sort"
	"time"
)

// The per-hour chart of a message: sent, delivered, undelivered and failed
// SMS per UTC hour, from the message's hourly counters (the store's
// h:<action>:<YYYYMMDDHH> fields), drawn as inline SVG by the template: no
// script, nothing fetched. A table with the same numbers follows it for
// screen readers and copying.

// series are the chart's bars: the counter action and how it is labelled
// (the store counts each final outcome's hour: "delivery" for delivered,
// as Pushwoosh names it, and undelivered and failed under their own).
var series = []struct{ Action, Label, Color string }{
	{"send", "sent", "#1f5fbf"},
	{"delivery", "delivered", "#1a7f37"},
	{"undelivered", "undelivered", "#a15c00"},
	{"failed", "failed", "#b3261e"},
}

// maxHours bounds the chart; a message sent over a longer span shows its
// last week.
const maxHours = 7 * 24

const (
	chartW, chartH         = 720.0, 260.0
	padL, padR, padT, padB = 44.0, 8.0, 12.0, 36.0
	maxBarW                = 28.0
)

type bar struct {
	X, Y, W, H float64
	Color      string
	Title      string
}

type tick struct {
	X, Y  float64
	Label string
}

type legend struct {
	Label, Color string
	// Recorded is false when the store keeps no hourly counter of it for
	// this message (none happened, or the counter does not exist yet).
	Recorded bool
}

type hourRow struct {
	Hour   string
	Counts []int64
}

type chart struct {
	W, H, PlotBottom, PlotLeft, PlotRight float64
	Bars                                  []bar
	XTicks, YTicks                        []tick
	Legend                                []legend
	Rows                                  []hourRow
	// Truncated is set when only the last maxHours are shown.
	Truncated bool
	Empty     bool
}

// hourlyChart lays out the chart of hourly (action → YYYYMMDDHH → count).
func hourlyChart(hourly map[string]map[string]int64) chart {
	c := chart{W: chartW, H: chartH, PlotBottom: chartH - padB, PlotLeft: padL, PlotRight: chartW - padR}
	hours := map[string]bool{}
	for _, s := range series {
		c.Legend = append(c.Legend, legend{Label: s.Label, Color: s.Color, Recorded: len(hourly[s.Action]) > 0})
		for h := range hourly[s.Action] {
			if _, err := time.Parse("2006010215", h); err == nil {
				hours[h] = true
			}
		}
	}
	if len(hours) == 0 {
		c.Empty = true
		return c
	}
	// Every hour from the first to the last, gaps included.
	var keys []string
	for h := range hours {
		keys = append(keys, h)
	}
	sort.Strings(keys)
	first, _ := time.Parse("2006010215", keys[0])
	last, _ := time.Parse("2006010215", keys[len(keys)-1])
	if n := int(last.Sub(first)/time.Hour) + 1; n > maxHours {
		first = last.Add(-(maxHours - 1) * time.Hour)
		c.Truncated = true
	}
	var span []time.Time
	for t := first; !t.After(last); t = t.Add(time.Hour) {
		span = append(span, t)
	}
	var top int64 = 1
	for _, t := range span {
		row := hourRow{Hour: t.Format("2006-01-02 15:00")}
		for _, s := range series {
			n := hourly[s.Action][t.Format("2006010215")]
			row.Counts = append(row.Counts, n)
			top = max(top, n)
		}
		c.Rows = append(c.Rows, row)
	}
	plotW, plotH := chartW-padL-padR, chartH-padT-padB
	slot := plotW / float64(len(span))
	// Bars stay slim when there are few hours; a group is centred in its slot.
	barW := min(slot*0.8/float64(len(series)), maxBarW)
	inset := (slot - barW*float64(len(series))) / 2
	for i, row := range c.Rows {
		for j, n := range row.Counts {
			if n == 0 {
				continue
			}
			h := float64(n) / float64(top) * plotH
			c.Bars = append(c.Bars, bar{
				X: padL + float64(i)*slot + inset + float64(j)*barW, Y: padT + plotH - h, W: barW, H: h,
				Color: series[j].Color, Title: fmt.Sprintf("%s UTC: %d %s", row.Hour, n, series[j].Label),
			})
		}
	}
	// About six hour labels, at whole steps.
	step := max(1, (len(span)+5)/6)
	for i := 0; i < len(span); i += step {
		label := span[i].Format("15:00")
		if i == 0 || span[i].Day() != span[i-step].Day() {
			label = span[i].Format("01-02 15:00")
		}
		c.XTicks = append(c.XTicks, tick{X: padL + float64(i)*slot + slot/2, Y: chartH - padB + 16, Label: label})
	}
	yticks := []int64{0, top}
	if top >= 4 && top%2 == 0 {
		yticks = []int64{0, top / 2, top}
	}
	for _, v := range yticks {
		c.YTicks = append(c.YTicks, tick{X: padL - 6, Y: padT + plotH - float64(v)/float64(top)*plotH, Label: fmt.Sprint(v)})
	}
	return c
}
