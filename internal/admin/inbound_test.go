package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

const adminToken = "admin-token-for-tests"

// unmatchedServer is the operator API on a real Redis holding n unmatched
// replies an hour apart from 2026-12-01T00:00Z (reply i from
// +49151000000<i>, text "reply <i>").
func unmatchedServer(t *testing.T, n int, withStore bool) *httptest.Server {
	t.Helper()
	r := testenv.NewRedis(t)
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	now := base
	st := store.New(r.Client(t), 24*time.Hour, store.WithClock(func() time.Time { return now }))
	for i := range n {
		now = base.Add(time.Duration(i) * time.Hour)
		if err := st.AddUnmatched(context.Background(), store.UnmatchedReply{ID: fmt.Sprintf("u%d", i), Provider: "gw",
			From: fmt.Sprintf("+49151000000%02d", i), To: "NOBODY", Text: fmt.Sprintf("reply %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	o := Options{Token: adminToken}
	if withStore {
		o.Unmatched = st
	}
	mux := http.NewServeMux()
	New(o).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

type unmatchedPage struct {
	Unmatched []struct {
		ID, From, To, Provider string
		Text                   *string
		TextChars              int `json:"text_chars"`
	}
	Full       bool
	NextCursor string `json:"next_cursor"`
	Error      string
	Field      string
}

func getUnmatched(t *testing.T, srv *httptest.Server, token, query string) (int, unmatchedPage, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/admin/inbound/unmatched?"+query, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw json.RawMessage
	_ = json.NewDecoder(resp.Body).Decode(&raw)
	var p unmatchedPage
	_ = json.Unmarshal(raw, &p)
	return resp.StatusCode, p, string(raw)
}

// TestUnmatchedRepliesForTheOperator: the admin token is required; by
// default numbers are masked and texts withheld, full=1 shows both;
// pages follow next_cursor and the date range bounds them; each bad
// parameter is a 400 naming it.
func TestUnmatchedRepliesForTheOperator(t *testing.T) {
	srv := unmatchedServer(t, 5, true)
	for _, tok := range []string{"", "wrong-token"} {
		if st, _, body := getUnmatched(t, srv, tok, ""); st != http.StatusUnauthorized || strings.Contains(body, "+4915100") {
			t.Fatalf("token %q: HTTP %d %s", tok, st, body)
		}
	}
	st, p, body := getUnmatched(t, srv, adminToken, "")
	if st != http.StatusOK || len(p.Unmatched) != 5 || p.Full || p.NextCursor != "" {
		t.Fatalf("HTTP %d %s", st, body)
	}
	if strings.Contains(body, "+4915100000004") || strings.Contains(body, "reply 4") {
		t.Fatalf("the default view shows a number or a text: %s", body)
	}
	if u := p.Unmatched[0]; u.ID != "u4" || u.From != "+4915*******04" || u.Text != nil || u.TextChars != len("reply 4") || u.To != "NOBODY" {
		t.Fatalf("newest, masked: %+v", u)
	}
	st, p, body = getUnmatched(t, srv, adminToken, "full=1&limit=2")
	if st != http.StatusOK || !p.Full || len(p.Unmatched) != 2 || p.Unmatched[0].From != "+4915100000004" || p.Unmatched[0].Text == nil || *p.Unmatched[0].Text != "reply 4" || p.NextCursor == "" {
		t.Fatalf("full: HTTP %d %s", st, body)
	}
	var seen []string
	for cursor, pages := "", 0; ; pages++ {
		st, p, body = getUnmatched(t, srv, adminToken, "limit=2&cursor="+cursor)
		if st != http.StatusOK || pages > 5 {
			t.Fatalf("page %d: HTTP %d %s", pages, st, body)
		}
		for _, u := range p.Unmatched {
			seen = append(seen, u.ID)
		}
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	if strings.Join(seen, " ") != "u4 u3 u2 u1 u0" {
		t.Fatalf("pages gave %v", seen)
	}
	st, p, body = getUnmatched(t, srv, adminToken, "from=2026-12-01T01:00:00Z&to=2026-12-01T03:00:00Z")
	if st != http.StatusOK || len(p.Unmatched) != 3 || p.Unmatched[0].ID != "u3" || p.Unmatched[2].ID != "u1" {
		t.Fatalf("range: HTTP %d %s", st, body)
	}
	if st, p, _ = getUnmatched(t, srv, adminToken, "from=2026-12-02"); st != http.StatusOK || len(p.Unmatched) != 0 {
		t.Fatalf("a day with none: HTTP %d %+v", st, p)
	}
	for _, tt := range []struct{ query, field string }{
		{"limit=0", "limit"}, {"limit=1001", "limit"}, {"limit=x", "limit"},
		{"full=yes", "full"}, {"from=yesterday", "from"}, {"to=2026-13-01", "to"},
		{"from=2026-12-02&to=2026-12-01", "to"}, {"cursor=abc", "cursor"},
	} {
		if st, p, body := getUnmatched(t, srv, adminToken, tt.query); st != http.StatusBadRequest || p.Field != tt.field {
			t.Errorf("%s: HTTP %d %s, want 400 naming %s", tt.query, st, body, tt.field)
		}
	}
	if st, _, body := getUnmatched(t, unmatchedServer(t, 0, false), adminToken, ""); st != http.StatusServiceUnavailable {
		t.Fatalf("without a store: HTTP %d %s", st, body)
	}
}
