package history

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/smsfleet/smsfleet/internal/store/storetest"
)

// TestHistoryPages checks what the message, SMS and phone pages show, and
// their refusals.
func TestHistoryPages(t *testing.T) {
	w := newWorld(t, nil)
	auth := "Token " + shopToken
	for _, tc := range []struct {
		name, path string
		want       int
		has        []string
		hasNot     []string
	}{
		{"delivered message", "/history/messages/" + codeDelivered, http.StatusOK, []string{
			"Your code is 1234", "otp", "<svg", "<rect", "2026-05-01 12:00 UTC: 1 sent", "2026-05-01 12:00 UTC: 1 delivered",
			`href="/history/sms/` + w.deliveredID + `"`, escaped(phoneA), `<span class="st delivered">delivered</span>`, "sim-a", "100 %",
			"/history/export/messages/" + codeDelivered + "/recipients.csv",
		}, nil},
		{"message with languages", "/history/messages/" + codeFailed, http.StatusOK, []string{
			// Its one SMS failed: the chart has the failed series only.
			`lang="en">Sale now`, `lang="de">Jetzt Rabatt`, escaped(failError), "<svg", " UTC: 1 failed",
		}, nil},
		{"scheduled message", "/history/messages/" + codeScheduled, http.StatusOK, []string{
			"See you tomorrow", "SHOP", "2026-05-03 13:00:00 UTC", "Europe/Berlin", escaped(phoneA), escaped(phoneB), "scheduled", "Recipients 1–2 of 2",
		}, nil},
		{"unknown message", "/history/messages/ZZZZ-00000000-00000000", http.StatusNotFound, []string{"no message"}, nil},
		{"SMS timeline", "/history/sms/" + w.deliveredID, http.StatusOK, []string{
			"Message created (otp)", "Attempt via sim-b: transient", "503 from sim-b", "Sent via sim-a", "Receipt from sim-a: delivered",
			"Outcome event: delivered", "ref <span class=\"mono\">R1</span>", "gsm7",
		}, nil},
		{"failed SMS timeline", "/history/sms/" + w.failedID, http.StatusOK, []string{"Attempt via sim-a: permanent", "Ended failed", "Outcome event: failed"}, nil},
		{"a scheduled SMS without a record yet", "/history/sms/" + storetest.SMSID(t, w.st, codeScheduled, phoneB), http.StatusOK, []string{
			"scheduled", "Message created (transactional)", "Scheduled to send", "written when its time zone group is due"}, nil},
		{"unknown SMS", "/history/sms/nope", http.StatusNotFound, []string{"no SMS"}, nil},
		{"phone search, E.164", "/history/?phone=" + url.QueryEscape(phoneA), http.StatusOK, []string{codeScheduled, codeFailed, codeDelivered}, []string{codeBank, "Bank code"}},
		{"phone search, national format in the default region", "/history/?phone=" + url.QueryEscape("0151 12000001"), http.StatusOK, []string{codeDelivered}, []string{codeBank}},
		{"phone search, nothing", "/history/?phone=" + url.QueryEscape("+4915112000099"), http.StatusOK, []string{"No SMS to this number"}, nil},
		{"phone search, not a phone", "/history/?phone=abc", http.StatusBadRequest, []string{"<strong>phone</strong>", `value="abc"`}, nil},
		{"phone search, empty", "/history/?phone=", http.StatusBadRequest, []string{"<strong>phone</strong>"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := w.do(req{path: tc.path, auth: auth})
			if r.Code != tc.want {
				t.Fatalf("GET %s = %d, want %d:\n%.3000s", tc.path, r.Code, tc.want, r.body)
			}
			for _, s := range tc.has {
				if !strings.Contains(r.body, s) {
					t.Errorf("GET %s lacks %q:\n%.4000s", tc.path, s, r.body)
				}
			}
			for _, s := range tc.hasNot {
				if strings.Contains(r.body, s) {
					t.Errorf("GET %s shows %q", tc.path, s)
				}
			}
		})
	}
	// The phone search lists newest first.
	r := w.do(req{path: "/history/?phone=" + url.QueryEscape(phoneA), auth: auth})
	if i, j, k := strings.Index(r.body, codeScheduled), strings.Index(r.body, codeFailed), strings.Index(r.body, codeDelivered); !(i < j && j < k) {
		t.Errorf("phone search not newest first: %d %d %d", i, j, k)
	}
	// The bank sees its own SMS to the same phone, and not the shop's.
	r = w.do(req{path: "/history/?phone=" + url.QueryEscape(phoneA), auth: "Token " + bankToken})
	if !strings.Contains(r.body, codeBank) || strings.Contains(r.body, codeDelivered) {
		t.Errorf("the bank's phone search: %.2000s", r.body)
	}
}

func escaped(s string) string {
	return strings.NewReplacer(`"`, "&#34;", "<", "&lt;", ">", "&gt;", "+", "&#43;").Replace(s)
}
