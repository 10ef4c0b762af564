package history

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/smsfleet/smsfleet/internal/msgquery"
	"github.com/smsfleet/smsfleet/internal/sms"
)

// The messages list, newest first, with its filters and paging.

const (
	// pageSize is how many messages a page lists.
	pageSize = 25
	// defaultMaxScan bounds how many messages one page request reads
	// while filtering (Server.maxScan): a selective filter over a long
	// history ends the page early, and Next goes on from there.
	defaultMaxScan = 2000
	// maxTrail bounds how many earlier pages Previous can go back to.
	maxTrail = 20
)

// parseFilter reads the list's filters (msgquery.Parse); a bad one is a
// 400 page naming it.
func parseFilter(q url.Values) (msgquery.Query, error) {
	f, err := msgquery.Parse(q.Get("from"), q.Get("to"), q.Get("type"), q.Get("status"))
	var fe *msgquery.FieldError
	if errors.As(err, &fe) {
		return f, pageError(http.StatusBadRequest, fe.Field, fe.Field+" "+fe.Msg+".")
	}
	return f, err
}

// filterQuery is the filters as URL parameters.
func filterQuery(f msgquery.Query) url.Values {
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
	Filter     msgquery.Query
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
	d.Prev, d.Next = p.links(cookiePath, filterQuery(f), next)
	s.render(w, r, http.StatusOK, "messages", "Messages", v, d)
	return nil
}

// listMessages reads a page of app's messages matching f from cursor on
// (msgquery.Find, at most s.maxScan read); next is where the following
// page starts (0: nothing more).
func (s *Server) listMessages(ctx context.Context, app string, f msgquery.Query, cursor int64) (rows []messageRow, next int64, scanned int, err error) {
	msgs, next, scanned, err := msgquery.Find(ctx, s.o.Store, app, f, pageSize, s.maxScan, cursor)
	if errors.Is(err, msgquery.ErrListChanged) {
		return nil, 0, scanned, pageError(http.StatusServiceUnavailable, "", "The list changed while it was being read: reload the page.")
	}
	if err != nil {
		return nil, 0, scanned, err
	}
	for _, m := range msgs {
		rows = append(rows, rowOf(m))
	}
	return rows, next, scanned, nil
}
