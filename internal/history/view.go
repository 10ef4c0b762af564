package history

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/smsfleet/smsfleet/internal/msgquery"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

// What the pages show of a message, worked out once here.

// previewRunes is how much of a text the list shows.
const previewRunes = 60

// text is a message's text in one language ("" for the only one).
type text struct {
	Lang string
	Text string
}

// textsOf reads a message's content: a JSON string, or an object of
// language code to text ("default" first, then English, the intake's
// fallback language, then the others by code).
func textsOf(content string) []text {
	var one string
	if json.Unmarshal([]byte(content), &one) == nil {
		return []text{{Text: one}}
	}
	var many map[string]string
	if json.Unmarshal([]byte(content), &many) != nil {
		return []text{{Text: content}}
	}
	out := make([]text, 0, len(many))
	for l, t := range many {
		out = append(out, text{Lang: l, Text: t})
	}
	rank := func(l string) int {
		switch l {
		case "default":
			return 0
		case "en":
			return 1
		}
		return 2
	}
	sort.Slice(out, func(i, j int) bool {
		if ri, rj := rank(out[i].Lang), rank(out[j].Lang); ri != rj {
			return ri < rj
		}
		return out[i].Lang < out[j].Lang
	})
	return out
}

// firstText is a message's text, or its first language's.
func firstText(content string) string {
	if ts := textsOf(content); len(ts) > 0 {
		return ts[0].Text
	}
	return ""
}

func preview(content string) string {
	ts := textsOf(content)
	if len(ts) == 0 {
		return ""
	}
	t := strings.Join(strings.Fields(ts[0].Text), " ")
	if utf8.RuneCountInString(t) <= previewRunes {
		return t
	}
	r := []rune(t)
	return string(r[:previewRunes-1]) + "…"
}

// final are the statuses the delivery rate counts: an SMS whose fate is
// known (unknown counts: the receipt never came).
var final = []sms.Status{sms.Delivered, sms.Undelivered, sms.Unknown, sms.Failed}

// deliveryRate is delivered / (delivered + undelivered + unknown + failed)
// as a percentage, "–" when none is final yet.
func deliveryRate(c map[sms.Status]int64) string {
	var n int64
	for _, st := range final {
		n += c[st]
	}
	if n == 0 {
		return "–"
	}
	return formatPct(float64(c[sms.Delivered]) * 100 / float64(n))
}

func formatPct(p float64) string {
	s := fmt.Sprintf("%.1f", p)
	s = strings.TrimSuffix(s, ".0")
	return s + " %"
}

// count is one status's count.
type count struct {
	Status string
	N      int64
}

// countsOf lists the non-zero counts in the order reports show statuses.
func countsOf(c map[sms.Status]int64) []count {
	var out []count
	for _, st := range sms.AllStatuses {
		if c[st] != 0 {
			out = append(out, count{Status: string(st), N: c[st]})
		}
	}
	return out
}

// dueOf is when a message is due, as the list orders it (msgquery.Due).
func dueOf(m store.Message) time.Time { return msgquery.Due(m) }

// messageRow is one line of the messages list.
type messageRow struct {
	Code       string
	Date       time.Time
	Type       string
	Sender     string
	Preview    string
	Recipients int
	Counts     []count
	Rate       string
	Canceled   bool
}

func rowOf(m store.Message) messageRow {
	return messageRow{
		Code: m.Code, Date: dueOf(m), Type: string(m.Type), Sender: m.Sender, Preview: preview(shownContent(m)),
		Recipients: m.Recipients, Counts: countsOf(m.Counts), Rate: deliveryRate(m.Counts), Canceled: m.Canceled,
	}
}
