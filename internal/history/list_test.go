package history

import (
	"context"
	"fmt"
	"github.com/smsfleet/smsfleet/internal/msgquery"
	"html"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/smsfleet/smsfleet/internal/sms"
)

var (
	messageLink = regexp.MustCompile(`href="/history/messages/([^"/]+)"`)
	nextLink    = regexp.MustCompile(`<a href="([^"]+)" rel="next">`)
	prevLink    = regexp.MustCompile(`<a href="([^"]+)" rel="prev">`)
)

// bulkCodes are the codes of the bulk messages from i down to j, newest first.
func bulkCodes(i, j int) []string {
	var out []string
	for k := i; k >= j; k-- {
		out = append(out, fmt.Sprintf("CCCC-00000000-%08d", k))
	}
	return out
}

func codesOn(body string) []string {
	var out []string
	for _, m := range messageLink.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func cat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// TestHistoryFilters checks each filter and each bad value on the list.
func TestHistoryFilters(t *testing.T) {
	w := newWorld(t, nil)
	auth := "Token " + shopToken
	for _, tc := range []struct {
		query string
		want  []string // the first page's messages, newest first
		next  bool
	}{
		{"", bulkCodes(29, 5), true},
		{"from=2026-05-02&to=2026-05-03", []string{codeScheduled, codeFailed}, false},
		{"to=2026-05-01", []string{codeDelivered}, false},
		{"from=2026-05-04", bulkCodes(29, 5), true},
		{"from=2026-05-05", nil, false},
		{"type=otp", []string{codeDelivered}, false},
		{"type=marketing", []string{codeFailed}, false},
		{"type=transactional&from=2026-05-03&to=2026-05-03", []string{codeScheduled}, false},
		{"status=delivered", []string{codeDelivered}, false},
		{"status=failed", []string{codeFailed}, false},
		{"status=scheduled", []string{codeScheduled}, false},
		{"status=queued", bulkCodes(29, 5), true},
		{"status=sent", nil, false},
		{"type=otp&status=failed", nil, false},
	} {
		r := w.do(req{path: "/history/?" + tc.query, auth: auth})
		if r.Code != http.StatusOK {
			t.Fatalf("?%s: %d %.1000s", tc.query, r.Code, r.body)
		}
		if got := codesOn(r.body); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("?%s: messages %v, want %v", tc.query, got, tc.want)
		}
		if got := nextLink.MatchString(r.body); got != tc.next {
			t.Errorf("?%s: next link %v, want %v", tc.query, got, tc.next)
		}
	}
	for _, tc := range []struct{ query, field string }{
		{"from=2026-13-01", "from"},
		{"from=01.05.2026", "from"},
		{"to=yesterday", "to"},
		{"from=2026-05-03&to=2026-05-02", "to"},
		{"type=sms", "type"},
		{"status=lost", "status"},
		{"cursor=-1", "cursor"},
		{"cursor=abc", "cursor"},
		{"back=x", "back"},
	} {
		r := w.do(req{path: "/history/?" + tc.query, auth: auth})
		if r.Code != http.StatusBadRequest || !strings.Contains(r.body, "<strong>"+tc.field+"</strong>") {
			t.Errorf("?%s: %d, want 400 naming %s: %.600s", tc.query, r.Code, tc.field, r.body)
		}
	}
}

// TestHistoryList checks what a row shows: date, type, sender, text,
// recipients, counts and the delivery rate ("–" when nothing is final).
func TestHistoryList(t *testing.T) {
	w := newWorld(t, nil)
	r := w.do(req{path: "/history/?to=2026-05-03", auth: "Token " + shopToken})
	rows := strings.Split(r.body, "<tr>")
	want := map[string][]string{
		codeScheduled: {"2026-05-03 13:00", "transactional", "SHOP", "See you tomorrow", `<td class="num">2</td>`, "scheduled 2", `<td class="num">–</td>`},
		codeFailed:    {"2026-05-02 12:00", "marketing", "<td>–</td>", "Sale now", `<td class="num">1</td>`, "failed 1", `<td class="num">0 %</td>`},
		codeDelivered: {"2026-05-01 12:00", "otp", "Your code is 1234", "delivered 1", `<td class="num">100 %</td>`},
	}
	for code, parts := range want {
		var row string
		for _, r := range rows {
			if strings.Contains(r, code) {
				row = r
			}
		}
		for _, p := range parts {
			if !strings.Contains(row, p) {
				t.Errorf("%s: row lacks %q:\n%s", code, p, row)
			}
		}
	}
}

// TestHistoryPaging follows Next to the end and Previous back, with and
// without a filter: every message once, newest first.
func TestHistoryPaging(t *testing.T) {
	w := newWorld(t, nil)
	auth := "Token " + shopToken
	for _, tc := range []struct {
		start string
		pages [][]string
	}{
		{"/history/", [][]string{bulkCodes(29, 5), cat(bulkCodes(4, 0), []string{codeScheduled, codeFailed, codeDelivered})}},
		{"/history/?type=transactional", [][]string{bulkCodes(29, 5), cat(bulkCodes(4, 0), []string{codeScheduled})}},
		{"/history/?status=queued", [][]string{bulkCodes(29, 5), bulkCodes(4, 0)}},
	} {
		var got [][]string
		var urls []string
		for path := tc.start; path != ""; {
			r := w.do(req{path: path, auth: auth})
			if r.Code != http.StatusOK {
				t.Fatalf("%s: %d", path, r.Code)
			}
			got = append(got, codesOn(r.body))
			urls = append(urls, path)
			path = ""
			if m := nextLink.FindStringSubmatch(r.body); m != nil {
				path = html.UnescapeString(m[1])
			}
			if len(got) > 5 {
				t.Fatalf("%s: paging does not end", tc.start)
			}
		}
		if !reflect.DeepEqual(got, tc.pages) {
			t.Errorf("%s: pages %v, want %v", tc.start, got, tc.pages)
		}
		// Previous from the last page is the first page again.
		last := w.do(req{path: urls[len(urls)-1], auth: auth})
		m := prevLink.FindStringSubmatch(last.body)
		if m == nil {
			t.Fatalf("%s: no Previous link on the last page", tc.start)
		}
		back := w.do(req{path: html.UnescapeString(m[1]), auth: auth})
		if first := codesOn(back.body); !reflect.DeepEqual(first, tc.pages[0]) {
			t.Errorf("%s: Previous shows %v, want the first page", tc.start, first)
		}
		if prevLink.MatchString(back.body) {
			t.Errorf("%s: the first page has a Previous link", tc.start)
		}
	}
}

// TestHistoryScanBound: a filter that matches little over a long list
// ends each page after the most messages a request may read, says so, and
// Next goes on until the match.
func TestHistoryScanBound(t *testing.T) {
	w := newWorld(t, nil)
	w.srv.maxScan = 10
	var pages [][]string
	notes := 0
	for path := "/history/?type=otp"; path != ""; {
		r := w.do(req{path: path, auth: "Token " + shopToken})
		if r.Code != http.StatusOK {
			t.Fatalf("%s: %d", path, r.Code)
		}
		pages = append(pages, codesOn(r.body))
		if strings.Contains(r.body, "Looked through 10 messages") {
			notes++
		}
		path = ""
		if m := nextLink.FindStringSubmatch(r.body); m != nil {
			path = html.UnescapeString(m[1])
		}
		if len(pages) > 10 {
			t.Fatal("paging does not end")
		}
	}
	// 33 messages, 10 a request: three empty pages, then the OTP.
	if want := [][]string{nil, nil, nil, {codeDelivered}}; !reflect.DeepEqual(pages, want) || notes != 3 {
		t.Errorf("pages %v (%d notes), want %v with 3 notes", pages, notes, want)
	}
}

// TestHistoryCursorAfterShift: a message created while a first page is
// read shifts the list; the cursor after the page's last message still
// starts the next page right after it.
func TestHistoryCursorAfterShift(t *testing.T) {
	w := newWorld(t, nil)
	ctx := context.Background()
	// The first page ends at bulk 5, the 25th message; then one more arrives.
	w.direct(shopApp, "DDDD-00000000-00000001", sms.OTP, `"new"`, phoneA, day(6))
	next, err := msgquery.CursorAfter(ctx, w.srv.o.Store, shopApp, 0, 25, bulkCodes(5, 5)[0])
	if err != nil {
		t.Fatal(err)
	}
	rows, _, _, err := w.srv.listMessages(ctx, shopApp, msgquery.Query{}, next)
	if err != nil || len(rows) == 0 || rows[0].Code != bulkCodes(4, 4)[0] {
		t.Fatalf("the next page starts with %+v (%v), want bulk 4", rows, err)
	}
	// A code that is not there at all is an error to reload, not a wrong page.
	if _, err := msgquery.CursorAfter(ctx, w.srv.o.Store, shopApp, 0, 25, "ZZZZ-00000000-00000000"); err == nil {
		t.Fatal("a vanished code gave a cursor")
	}
}
