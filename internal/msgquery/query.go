// Package msgquery finds an application's messages by due date, type and
// status: the one home of the filters Message History's list and the
// native GET /api/v1/messages share (issue 16).
package msgquery

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

// Query is a parsed filter: From and To as given (YYYY-MM-DD, UTC days,
// both included), a type and a status (a message with at least one SMS in
// it). The zero Query matches every message.
type Query struct {
	From, To, Type, Status string
	from, toEnd            time.Time
}

// DateLayout is how From and To are written.
const DateLayout = "2006-01-02"

// FieldError is a filter that cannot be read: Field names it, Msg says
// why. Each surface answers it in its own form (a page, a JSON 400).
type FieldError struct {
	Field, Msg string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Parse reads the four filters; a bad one is a *FieldError.
func Parse(from, to, typ, status string) (Query, error) {
	q := Query{From: strings.TrimSpace(from), To: strings.TrimSpace(to), Type: typ, Status: status}
	if q.From != "" {
		t, err := time.Parse(DateLayout, q.From)
		if err != nil {
			return q, &FieldError{"from", "must be a date as YYYY-MM-DD, got " + strconv.Quote(q.From)}
		}
		q.from = t
	}
	if q.To != "" {
		t, err := time.Parse(DateLayout, q.To)
		if err != nil {
			return q, &FieldError{"to", "must be a date as YYYY-MM-DD, got " + strconv.Quote(q.To)}
		}
		q.toEnd = t.AddDate(0, 0, 1)
		if !q.from.IsZero() && q.toEnd.Before(q.from.AddDate(0, 0, 1)) {
			return q, &FieldError{"to", "(" + q.To + ") is before from (" + q.From + ")"}
		}
	}
	switch sms.Type(q.Type) {
	case "", sms.OTP, sms.Transactional, sms.Marketing:
	default:
		return q, &FieldError{"type", "must be otp, transactional or marketing, got " + strconv.Quote(q.Type)}
	}
	if q.Status != "" && !sms.Status(q.Status).Valid() {
		return q, &FieldError{"status", "must be one of " + StatusList() + ", got " + strconv.Quote(q.Status)}
	}
	return q, nil
}

// StatusList names every status, comma-separated.
func StatusList() string {
	names := make([]string, len(sms.AllStatuses))
	for i, st := range sms.AllStatuses {
		names[i] = string(st)
	}
	return strings.Join(names, ", ")
}

// Match reports whether m passes the filters (its due date, type, and at
// least one SMS in the status).
func (q Query) Match(m store.Message) bool {
	due := Due(m)
	return (q.from.IsZero() || !due.Before(q.from)) && (q.toEnd.IsZero() || due.Before(q.toEnd)) &&
		(q.Type == "" || string(m.Type) == q.Type) && (q.Status == "" || m.Counts[sms.Status(q.Status)] > 0)
}

// Due is when a message is due, as the application's list orders it
// (store.CreateMessage): its last group's send time, or its creation if
// that is later.
func Due(m store.Message) time.Time {
	due := m.CreatedAt
	if m.SendAt.After(due) {
		due = m.SendAt
	}
	for _, g := range m.Groups {
		if g.SendAt.After(due) {
			due = g.SendAt
		}
	}
	return due
}

// Lister reads an application's messages, newest first (store.Store).
type Lister interface {
	ListMessages(ctx context.Context, app string, limit int, cursor int64) ([]store.Message, int64, error)
}

// ErrListChanged means messages were created while a page was being read
// so that its end could not be found again: read the page again.
var ErrListChanged = errors.New("the message list changed while it was being read")

// listBatch is how many messages one read of the store takes.
const listBatch = 100

// Find reads app's messages from cursor on (0: the newest, or the end of
// the date range), keeping those that match q, until limit matched, the
// range or the list ends, or maxScan were read (a selective filter over a
// long history ends a page early). next is where the following page
// starts (0: nothing more).
func Find(ctx context.Context, l Lister, app string, q Query, limit, maxScan int, cursor int64) (msgs []store.Message, next int64, scanned int, err error) {
	cur := cursor
	if cur == 0 && !q.toEnd.IsZero() {
		cur = store.MessageListCursor(q.toEnd)
	}
	for scanned < maxScan {
		page, after, err := l.ListMessages(ctx, app, min(listBatch, maxScan-scanned), cur)
		if err != nil {
			return nil, 0, 0, err
		}
		for i, m := range page {
			scanned++
			if !q.from.IsZero() && Due(m).Before(q.from) {
				return msgs, 0, scanned, nil // older than the range: the rest is too
			}
			if !q.Match(m) {
				continue
			}
			msgs = append(msgs, m)
			if len(msgs) == limit {
				if i == len(page)-1 {
					return msgs, after, scanned, nil
				}
				next, err := CursorAfter(ctx, l, app, cur, i+1, m.Code)
				return msgs, next, scanned, err
			}
		}
		if after == 0 {
			return msgs, 0, scanned, nil
		}
		cur = after
	}
	return msgs, cur, scanned, nil
}

// CursorAfter is the cursor of the message list right after code, the
// n-th entry from cur on: ListMessages gives the cursor after a page's last
// entry, so a page of n entries ends there. A message created meanwhile
// (above code, on a first page) shifts code down: it is then looked for
// further on and the page is read again to end at it.
func CursorAfter(ctx context.Context, l Lister, app string, cur int64, n int, code string) (int64, error) {
	for range 3 {
		msgs, after, err := l.ListMessages(ctx, app, n, cur)
		if err != nil {
			return 0, err
		}
		if len(msgs) == n && msgs[n-1].Code == code {
			return after, nil
		}
		more, _, err := l.ListMessages(ctx, app, n+listBatch, cur)
		if err != nil {
			return 0, err
		}
		n = 0
		for j, m := range more {
			if m.Code == code {
				n = j + 1
				break
			}
		}
		if n == 0 {
			break
		}
	}
	return 0, ErrListChanged
}
