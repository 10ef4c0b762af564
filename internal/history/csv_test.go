package history

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func TestHistorySafeCell(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"delivered", "delivered"},
		{"=1+1", "'=1+1"},
		{"+4915112000001", "'+4915112000001"},
		{"-2", "'-2"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\tx", "'\tx"},
		{"\rx", "'\rx"},
		{"a=b", "a=b"},
		{`say "hi", then go`, `say "hi", then go`},
	} {
		if got := safeCell(tc.in); got != tc.want {
			t.Errorf("safeCell(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestHistoryCSV exports a message's recipients and a phone's history and
// reads them back as RFC 4180: the header, the rows, quoting of commas and
// quotes, and the formula in a provider's error defused.
func TestHistoryCSV(t *testing.T) {
	w := newWorld(t, nil)
	auth := "Token " + shopToken
	read := func(path string) ([][]string, string) {
		t.Helper()
		r := w.do(req{path: path, auth: auth})
		if r.Code != http.StatusOK || r.Header().Get("Content-Type") != "text/csv; charset=utf-8" {
			t.Fatalf("GET %s: %d %s %.500s", path, r.Code, r.Header().Get("Content-Type"), r.body)
		}
		if !strings.Contains(r.body, "\r\n") {
			t.Errorf("GET %s: lines not ended by CRLF", path)
		}
		rows, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
		if err != nil {
			t.Fatalf("GET %s: not CSV: %v\n%s", path, err, r.body)
		}
		return rows, r.Header().Get("Content-Disposition")
	}

	rows, disp := read("/history/export/messages/" + codeFailed + "/recipients.csv")
	if want := []string{"sms_id", "phone", "status", "reason", "provider", "provider_ref", "segments", "encoding", "operator", "attempts", "updated_at"}; !reflect.DeepEqual(rows[0], want) {
		t.Errorf("header %v", rows[0])
	}
	if len(rows) != 2 || rows[1][0] != w.failedID || rows[1][1] != "'"+phoneA || rows[1][2] != "failed" || rows[1][3] != "'"+failError || rows[1][4] != "sim-a" {
		t.Errorf("rows %q", rows)
	}
	if !strings.Contains(disp, `filename="message-`+codeFailed+`-recipients.csv"`) {
		t.Errorf("Content-Disposition %q", disp)
	}
	rows, _ = read("/history/export/messages/" + codeScheduled + "/recipients.csv")
	if len(rows) != 3 || rows[1][2] != "scheduled" || rows[2][1] != "'"+phoneB {
		t.Errorf("scheduled message's rows %q", rows)
	}

	rows, disp = read("/history/export/phone.csv?phone=" + url.QueryEscape(phoneA))
	if want := []string{"date", "message", "type", "sms_id", "phone", "status", "reason", "provider", "text"}; !reflect.DeepEqual(rows[0], want) {
		t.Errorf("header %v", rows[0])
	}
	var codes []string
	for _, r := range rows[1:] {
		codes = append(codes, r[1])
	}
	if want := []string{codeScheduled, codeFailed, codeDelivered}; !reflect.DeepEqual(codes, want) {
		t.Errorf("phone export lists %v, want %v (newest first, not the bank's)", codes, want)
	}
	if rows[2][6] != "'"+failError || rows[3][8] != "Your code is 1234" || rows[3][5] != "delivered" {
		t.Errorf("phone export rows %q", rows)
	}
	if !strings.Contains(disp, `filename="phone-4915112000001.csv"`) {
		t.Errorf("Content-Disposition %q", disp)
	}
	// The raw text quotes the formula's quotes and comma as RFC 4180 says.
	r := w.do(req{path: "/history/export/phone.csv?phone=" + url.QueryEscape(phoneA), auth: auth})
	if !strings.Contains(r.body, `"'=HYPERLINK(""http://evil"",""click"")"`) {
		t.Errorf("the error cell is not quoted as RFC 4180 says:\n%s", r.body)
	}
	for _, tc := range []struct {
		path  string
		want  int
		field string
	}{
		{"/history/export/phone.csv?phone=abc", http.StatusBadRequest, "phone"},
		{"/history/export/phone.csv", http.StatusBadRequest, "phone"},
		{"/history/export/messages/ZZZZ-00000000-00000000/recipients.csv", http.StatusNotFound, ""},
	} {
		r := w.do(req{path: tc.path, auth: auth})
		if r.Code != tc.want || !strings.Contains(r.body, "<strong>"+tc.field+"</strong>") && tc.field != "" {
			t.Errorf("GET %s: %d, want %d naming %q", tc.path, r.Code, tc.want, tc.field)
		}
	}
	// The bank's export of the same phone has only its own SMS.
	r = w.do(req{path: "/history/export/phone.csv?phone=" + url.QueryEscape(phoneA), auth: "Token " + bankToken})
	if !strings.Contains(r.body, codeBank) || strings.Contains(r.body, codeDelivered) {
		t.Errorf("the bank's phone export:\n%s", r.body)
	}
}
