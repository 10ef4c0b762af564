package history

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/store/storetest"
)

// TestRepliesBesideTheSMSTheyAnswer (issue 17): the phone page lists the
// phone's replies, each linked to the SMS it answers (the last SMS the
// phone may have received from the sender it was sent to, at or before
// it), shown under that SMS too; an SMS's page shows its replies and no
// other's; a failed or scheduled SMS is answered by none; another
// application's replies never show.
func TestRepliesBesideTheSMSTheyAnswer(t *testing.T) {
	w := newWorld(t, nil)
	w.srv.o.Sender = func(string) string { return "smsfleet" } // as the fleet's default sender
	ctx := context.Background()
	scheduledA := storetest.SMSID(t, w.st, codeScheduled, phoneA)
	for _, r := range []struct {
		app string
		m   store.InboundMessage
	}{
		// After the delivered OTP (day 1, the application's sender).
		{shopApp, store.InboundMessage{ID: "in-1", Provider: "sim-a", From: phoneA, To: "smsfleet", Text: "thanks, got it", At: day(1).Add(time.Hour)}},
		// After the failed marketing SMS (day 2), which the phone never
		// got: it answers the delivered OTP.
		{shopApp, store.InboundMessage{ID: "in-2", Provider: "sim-a", From: phoneA, To: "smsfleet", Text: "STOP", Keyword: "stop", At: day(2).Add(time.Hour)}},
		// To SHOP, whose one SMS is still scheduled: it answers none.
		{shopApp, store.InboundMessage{ID: "in-3", Provider: "sim-b", From: phoneA, To: "SHOP", Text: "see you", At: day(3).Add(2 * time.Hour)}},
		{bankApp, store.InboundMessage{ID: "in-bank", Provider: "sim-a", From: phoneA, To: "BANK", Text: "bank reply", At: day(2).Add(time.Hour)}},
	} {
		if _, err := w.st.SaveInbound(ctx, r.app, r.m, 0); err != nil {
			t.Fatal(err)
		}
	}
	auth := "Token " + shopToken
	for _, tc := range []struct {
		name, path  string
		has, hasNot []string
	}{
		{"phone page", "/history/?phone=" + url.QueryEscape(phoneA),
			[]string{"Replies from this phone", "thanks, got it", "see you", `<a class="mono" href="/history/sms/` + w.deliveredID + `">`, "<td>stop</td>",
				"<td>–</td>\n</tr>"},
			[]string{"bank reply", `<a class="mono" href="/history/sms/` + w.failedID + `">`, `<a class="mono" href="/history/sms/` + scheduledA + `">`}},
		{"the delivered SMS", "/history/sms/" + w.deliveredID, []string{"<h2>Replies</h2>", "thanks, got it", "through sim-a", "<span>STOP</span>", "keyword stop"},
			[]string{"see you", "bank reply"}},
		{"the failed SMS", "/history/sms/" + w.failedID, nil, []string{"<h2>Replies</h2>", "thanks, got it", "see you"}},
		{"the scheduled SMS", "/history/sms/" + scheduledA, nil, []string{"<h2>Replies</h2>", "see you"}},
		{"phoneB has none", "/history/?phone=" + url.QueryEscape(phoneB), []string{"No replies from this number"}, []string{"thanks, got it"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := w.do(req{path: tc.path, auth: auth})
			if r.Code != 200 {
				t.Fatalf("GET %s = %d:\n%.3000s", tc.path, r.Code, r.body)
			}
			for _, s := range tc.has {
				if !strings.Contains(r.body, s) {
					t.Errorf("GET %s lacks %q:\n%.6000s", tc.path, s, r.body)
				}
			}
			for _, s := range tc.hasNot {
				if strings.Contains(r.body, s) {
					t.Errorf("GET %s shows %q", tc.path, s)
				}
			}
		})
	}
	// The bank sees its reply, not the shop's.
	r := w.do(req{path: "/history/?phone=" + url.QueryEscape(phoneA), auth: "Token " + bankToken})
	if !strings.Contains(r.body, "bank reply") || strings.Contains(r.body, "thanks, got it") {
		t.Errorf("the bank's phone page: %.3000s", r.body)
	}
}

// TestSameSender: which SMS a reply's `to` can answer.
func TestSameSender(t *testing.T) {
	for _, tt := range []struct {
		sender, to string
		want       bool
	}{
		{"", "smsfleet", false}, // no sender
		{"SHOP", "shop", true},
		{"SHOP", "BANK", false},
		{"+4915112345678", "004915112345678", false}, // a number is E.164 on both sides
		{"+4915112345678", "+4915112345678", true},
		{"SHOP", "not a sender!", false},
	} {
		if got := sameSender(tt.sender, tt.to); got != tt.want {
			t.Errorf("sameSender(%q, %q) = %v, want %v", tt.sender, tt.to, got, tt.want)
		}
	}
}
