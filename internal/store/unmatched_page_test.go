package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/testenv"
)

// TestPageUnmatched: unmatched replies newest first, in pages whose
// cursors skip and repeat nothing, within a date range (both ends
// included), and a cursor that is no page's is refused.
func TestPageUnmatched(t *testing.T) {
	r := testenv.NewRedis(t)
	ctx := context.Background()
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	now := base
	s := New(r.Client(t), 24*time.Hour, WithClock(func() time.Time { return now }))
	// Ten replies an hour apart, two of them in the same millisecond.
	for i := range 10 {
		now = base.Add(time.Duration(i) * time.Hour)
		if err := s.AddUnmatched(ctx, UnmatchedReply{ID: fmt.Sprintf("u%d", i), Provider: "gw", From: fmt.Sprintf("+49151000000%02d", i), To: "NOBODY", Text: "hi"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddUnmatched(ctx, UnmatchedReply{ID: "u9b", Provider: "gw", From: "+4915100000099", To: "NOBODY", Keyword: "stop"}); err != nil {
		t.Fatal(err)
	}
	ids := func(es []UnmatchedEntry) string {
		out := ""
		for _, e := range es {
			out += e.ID + " "
		}
		return out
	}
	tests := []struct {
		name     string
		from, to time.Time
		limit    int
		want     []string // page by page
	}{
		{"everything, 4 a page", time.Time{}, time.Time{}, 4, []string{"u9b u9 u8 u7 ", "u6 u5 u4 u3 ", "u2 u1 u0 "}},
		{"one page", time.Time{}, time.Time{}, 100, []string{"u9b u9 u8 u7 u6 u5 u4 u3 u2 u1 u0 "}},
		{"02:00 to 05:00, both included", base.Add(2 * time.Hour), base.Add(5 * time.Hour), 2, []string{"u5 u4 ", "u3 u2 "}},
		{"from 08:00", base.Add(8 * time.Hour), time.Time{}, 2, []string{"u9b u9 ", "u8 "}},
		{"to 00:59", time.Time{}, base.Add(59 * time.Minute), 10, []string{"u0 "}},
		{"nothing in range", base.Add(-2 * time.Hour), base.Add(-time.Hour), 10, []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cursor := ""
			for i, want := range tt.want {
				got, next, err := s.PageUnmatched(ctx, UnmatchedQuery{From: tt.from, To: tt.to, Limit: tt.limit, Cursor: cursor})
				if err != nil {
					t.Fatal(err)
				}
				if ids(got) != want {
					t.Fatalf("page %d: %q, want %q", i, ids(got), want)
				}
				if (next == "") != (i == len(tt.want)-1) {
					t.Fatalf("page %d: next cursor %q", i, next)
				}
				cursor = next
			}
		})
	}
	got, _, err := s.PageUnmatched(ctx, UnmatchedQuery{Limit: 1})
	if err != nil || len(got) != 1 || got[0].Keyword != "stop" || got[0].From != "+4915100000099" || !got[0].At.Equal(base.Add(9*time.Hour)) || got[0].StreamID == "" {
		t.Fatalf("newest: %+v %v", got, err)
	}
	for _, bad := range []string{"x", "12", "1-2-3", "-1-0"} {
		if _, _, err := s.PageUnmatched(ctx, UnmatchedQuery{Limit: 1, Cursor: bad}); !errors.Is(err, ErrBadCursor) {
			t.Errorf("cursor %q: %v, want ErrBadCursor", bad, err)
		}
	}
}
