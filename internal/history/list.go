package history

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

// The messages list, newest first, with its filters and paging.

const (
	// pageSize is how many messages a page lists.
	pageSize = 25
	// listBatch is how many messages one read of the store takes.
	listBatch = 100
	// defaultMaxScan bounds how many messages one page request reads
	// while filtering (Server.maxScan): a selective filter over a long
	// history ends the page early, and Next goes on from there.
	defaultMaxScan = 2000
	// maxTrail bounds how many earlier pages Previous can go back to.
	maxTrail = 20
)

// filter is the list's filters, as given and as parsed.
type filter struct {
	From, To, Type, Status string
	from, toEnd            time.Time
}

const dateLayout = "2006-01-02"

// parseFilter reads from, to (YYYY-MM-DD, UTC days, both included), type
// and status; a bad one is a 400 naming it.
func parseFilter(q url.Values) (filter, error) {
	f := filter{From: strings.TrimSpace(q.Get("from")), To: strings.TrimSpace(q.Get("to")), Type: q.Get("type"), Status: q.Get("status")}
	if f.From != "" {
		t, err := time.Parse(dateLayout, f.From)
		if err != nil {
			return f, pageError(http.StatusBadRequest, "from", "from must be a date as YYYY-MM-DD, got "+strconv.Quote(f.From)+".")
		}
		f.from = t
	}
	if f.To != "" {
		t, err := time.Parse(dateLayout, f.To)
		if err != nil {
			return f, pageError(http.StatusBadRequest, "to", "to must be a date as YYYY-MM-DD, got "+strconv.Quote(f.To)+".")
		}
		f.toEnd = t.AddDate(0, 0, 1)
		if !f.from.IsZero() && f.toEnd.Before(f.from.AddDate(0, 0, 1)) {
			return f, pageError(http.StatusBadRequest, "to", "to ("+f.To+") is before from ("+f.From+").")
		}
	}
	switch sms.Type(f.Type) {
	case "", sms.OTP, sms.Transactional, sms.Marketing:
	default:
		return f, pageError(http.StatusBadRequest, "type", "type must be otp, transactional or marketing, got "+strconv.Quote(f.Type)+".")
	}
	if f.Status != "" && !sms.Status(f.Status).Valid() {
		return f, pageError(http.StatusBadRequest, "status", "status must be one of "+statusList()+", got "+strconv.Quote(f.Status)+".")
	}
	return f, nil
}

func statusList() string {
	names := make([]string, len(sms.AllStatuses))
	for i, st := range sms.AllStatuses {
		names[i] = string(st)
	}
	return strings.Join(names, ", ")
}

// match reports whether m passes the filters (its date, type, and at
// least one SMS in the status).
func (f filter) match(m store.Message) bool {
	due := dueOf(m)
	return (f.from.IsZero() || !due.Before(f.from)) && (f.toEnd.IsZero() || due.Before(f.toEnd)) &&
		(f.Type == "" || string(m.Type) == f.Type) && (f.Status == "" || m.Counts[sms.Status(f.Status)] > 0)
}

// query is the filters as URL parameters.
func (f filter) query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"from": f.From, "to": f.To, "type": f.Type, "status": f.Status} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// paging is where a page starts and the trail of earlier pages' starts
// (Previous goes back one).
type paging struct {
	cursor int64
	trail  []int64
}

func parsePaging(q url.Values) (paging, error) {
	var p paging
	if v := q.Get("cursor"); v != "" {
		c, err := strconv.ParseInt(v, 10, 64)
		if err != nil || c < 0 {
			return p, pageError(http.StatusBadRequest, "cursor", "cursor must be a value from a Next link.")
		}
		p.cursor = c
	}
	if v := q.Get("back"); v != "" {
		for _, part := range strings.Split(v, ".") {
			c, err := strconv.ParseInt(part, 10, 64)
			if err != nil || c < 0 {
				return p, pageError(http.StatusBadRequest, "back", "back must be a value from a Previous link.")
			}
			p.trail = append(p.trail, c)
		}
		if len(p.trail) > maxTrail {
			p.trail = p.trail[len(p.trail)-maxTrail:]
		}
	}
	return p, nil
}

// links returns the Previous and Next URLs of a page at path with base's
// parameters ("" for none).
func (p paging) links(path string, base url.Values, next int64) (prev, nxt string) {
	join := func(cs []int64) string {
		parts := make([]string, len(cs))
		for i, c := range cs {
			parts[i] = strconv.FormatInt(c, 10)
		}
		return strings.Join(parts, ".")
	}
	if p.cursor != 0 {
		q := cloneValues(base)
		if n := len(p.trail); n > 0 {
			if c := p.trail[n-1]; c != 0 {
				q.Set("cursor", strconv.FormatInt(c, 10))
			}
			if n > 1 {
				q.Set("back", join(p.trail[:n-1]))
			}
		}
		prev = path + encode(q)
	}
	if next != 0 {
		q := cloneValues(base)
		q.Set("cursor", strconv.FormatInt(next, 10))
		trail := append(append([]int64(nil), p.trail...), p.cursor)
		if len(trail) > maxTrail {
			trail = trail[len(trail)-maxTrail:]
		}
		q.Set("back", join(trail))
		nxt = path + encode(q)
	}
	return prev, nxt
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func encode(q url.Values) string {
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// listData is the messages page.
type listData struct {
	Filter     filter
	Types      []string
	Statuses   []string
	Rows       []messageRow
	Prev, Next string
	// Scanned is set when the page ended because it read the most
	// messages a request may read without filling up.
	Scanned int
}

func (d listData) searchPhone() string { return "" }

// home is /history/: the phone search with ?phone=, else the messages.
func (s *Server) home(w http.ResponseWriter, r *http.Request, v *viewer) error {
	q := r.URL.Query()
	if q.Has("phone") {
		return s.phonePage(w, r, v)
	}
	f, err := parseFilter(q)
	if err != nil {
		return err
	}
	p, err := parsePaging(q)
	if err != nil {
		return err
	}
	rows, next, scanned, err := s.listMessages(r.Context(), v.App, f, p.cursor)
	if err != nil {
		return err
	}
	d := listData{Filter: f, Types: []string{string(sms.OTP), string(sms.Transactional), string(sms.Marketing)}, Rows: rows}
	for _, st := range sms.AllStatuses {
		d.Statuses = append(d.Statuses, string(st))
	}
	if len(rows) < pageSize && next != 0 {
		d.Scanned = scanned
	}
	d.Prev, d.Next = p.links(cookiePath, f.query(), next)
	s.render(w, r, http.StatusOK, "messages", "Messages", v, d)
	return nil
}

// listMessages reads app's messages from cursor on (0: the newest, or the
// end of the date range), keeping those that match f, until a page is
// full, the range or the list ends, or s.maxScan were read. next is where
// the following page starts (0: nothing more).
func (s *Server) listMessages(ctx context.Context, app string, f filter, cursor int64) (rows []messageRow, next int64, scanned int, err error) {
	cur := cursor
	if cur == 0 && !f.toEnd.IsZero() {
		cur = store.MessageListCursor(f.toEnd)
	}
	for scanned < s.maxScan {
		msgs, after, err := s.o.Store.ListMessages(ctx, app, min(listBatch, s.maxScan-scanned), cur)
		if err != nil {
			return nil, 0, 0, err
		}
		for i, m := range msgs {
			scanned++
			if !f.from.IsZero() && dueOf(m).Before(f.from) {
				return rows, 0, scanned, nil // older than the range: the rest is too
			}
			if !f.match(m) {
				continue
			}
			rows = append(rows, rowOf(m))
			if len(rows) == pageSize {
				if i == len(msgs)-1 {
					return rows, after, scanned, nil
				}
				next, err := s.cursorAfter(ctx, app, cur, i+1, m.Code)
				return rows, next, scanned, err
			}
		}
		if after == 0 {
			return rows, 0, scanned, nil
		}
		cur = after
	}
	return rows, cur, scanned, nil
}

// cursorAfter is the cursor of the message list right after code, the
// n-th entry from cur on: ListMessages gives the cursor after a page's last
// entry, so a page of n entries ends there. A message created meanwhile
// (above code, on a first page) shifts code down: it is then looked for
// further on and the page is read again to end at it.
func (s *Server) cursorAfter(ctx context.Context, app string, cur int64, n int, code string) (int64, error) {
	for range 3 {
		msgs, after, err := s.o.Store.ListMessages(ctx, app, n, cur)
		if err != nil {
			return 0, err
		}
		if len(msgs) == n && msgs[n-1].Code == code {
			return after, nil
		}
		more, _, err := s.o.Store.ListMessages(ctx, app, n+listBatch, cur)
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
	return 0, pageError(http.StatusServiceUnavailable, "", "The list changed while it was being read: reload the page.")
}
