package store

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// Reading the unmatched replies (sf:ibu, optouts.go) a page at a time,
// for the operator's GET /api/v1/admin/inbound/unmatched: the stream's
// entry ids begin with the unix ms they were kept at, so a date range is
// an id range and a page's cursor is the last entry's id.

// UnmatchedQuery selects unmatched replies, newest first.
type UnmatchedQuery struct {
	// From and To bound when they were kept (zero: unbounded), both
	// included, to the millisecond.
	From, To time.Time
	Limit    int
	// Cursor is the previous page's next cursor ("": the first page).
	Cursor string
}

// UnmatchedEntry is one unmatched reply with its place in the stream.
type UnmatchedEntry struct {
	UnmatchedReply
	// StreamID is its entry's id in sf:ibu ("<unix ms>-<seq>").
	StreamID string
}

// streamID is the form of a stream entry id, what a cursor must be.
var streamID = regexp.MustCompile(`^[0-9]{1,20}-[0-9]{1,20}$`)

// ErrBadCursor is a cursor that is no page's.
var ErrBadCursor = errors.New("cursor: not one a previous page returned")

// PageUnmatched returns the unmatched replies q selects, newest first, at
// most q.Limit, and the cursor of the next page ("" on the last one).
func (s *Store) PageUnmatched(ctx context.Context, q UnmatchedQuery) ([]UnmatchedEntry, string, error) {
	if q.Limit <= 0 {
		return nil, "", fmt.Errorf("page unmatched replies: limit must be positive, got %d", q.Limit)
	}
	end, start := "+", "-"
	if !q.To.IsZero() {
		end = strconv.FormatInt(ms(q.To), 10) // an id of only ms ends at that ms's last entry
	}
	if !q.From.IsZero() {
		start = strconv.FormatInt(ms(q.From), 10)
	}
	if q.Cursor != "" {
		if !streamID.MatchString(q.Cursor) {
			return nil, "", ErrBadCursor
		}
		end = "(" + q.Cursor // exclusive: the page after the cursor's entry
	}
	xs, err := s.rdb.XRevRangeN(ctx, keyUnmatched, end, start, int64(q.Limit)+1).Result()
	if err != nil {
		return nil, "", fmt.Errorf("page unmatched replies: %w", err)
	}
	next := ""
	if len(xs) > q.Limit {
		xs = xs[:q.Limit]
		next = xs[len(xs)-1].ID
	}
	out := make([]UnmatchedEntry, len(xs))
	for i, x := range xs {
		str := func(k string) string { v, _ := x.Values[k].(string); return v }
		at, _ := strconv.ParseInt(str("at"), 10, 64)
		out[i] = UnmatchedEntry{StreamID: x.ID, UnmatchedReply: UnmatchedReply{At: time.UnixMilli(at).UTC(), Provider: str("prov"), From: str("from"),
			To: str("to"), Keyword: str("kw"), ID: str("id"), Text: str("text")}}
	}
	return out, next, nil
}
