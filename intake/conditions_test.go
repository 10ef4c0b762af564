package intake

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestConditionsBadInputWritesNothing: through createMessage, a bad
// condition, conditions next to devices, and conditions_operator alone
// are each a 210 naming the field, and no message is written.
func TestConditionsBadInputWritesNothing(t *testing.T) {
	a, _ := planAPI(t)
	ctx := context.Background()
	tests := []struct{ n, err string }{
		{`{"send_date":"now","content":"hi","conditions":[["City","LIKE","L%"]]}`, `notifications[0].conditions[0]: unknown operator "LIKE"`},
		{`{"send_date":"now","content":"hi","conditions":[["City","EQ","London"]],"devices":["` + p1 + `"]}`, "notifications[0].conditions: cannot be combined with devices or users"},
		{`{"send_date":"now","content":"hi","devices":["` + p1 + `"],"conditions_operator":"OR"}`, "notifications[0].conditions_operator: needs conditions"},
		{`{"send_date":"now","content":"hi","conditions":[["Age","BETWEEN",[1]]]}`, "notifications[0].conditions[0]: BETWEEN needs [min, max], got 1 values"},
	}
	for _, tt := range tests {
		_, err := a.createMessage(ctx, shop, json.RawMessage(`{"notifications":[`+tt.n+`]}`))
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: %v, want an error with %q", tt.n, err, tt.err)
		}
	}
	msgs, _, err := a.Store.ListMessages(ctx, shop, 10, 0)
	if err != nil || len(msgs) != 0 {
		t.Fatalf("%d messages written (%v), want none", len(msgs), err)
	}
}

// TestConditionsArePlannedNotScanned: a notification with conditions (or
// none at all, a broadcast) is planned without reading the devices: one
// group due at its send time, no recipients yet, its targeting stored for
// the dispatch; ignore_user_timezone false with conditions is a 210
// naming it, as local-time groups need recipients at the request.
func TestConditionsArePlannedNotScanned(t *testing.T) {
	a, _ := planAPI(t)
	p, err := planOf(t, a, shop, `{"send_date":"now","content":"hi","conditions":[["City","EQ","London"],["Country","EQ","DE"]]}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.audiences) != 1 || len(p.audiences[0].Phones) != 0 || p.msg.Direct || !p.audiences[0].SendAt.Equal(testNow) {
		t.Fatalf("audiences %+v direct %v, want one group due now with no phones", p.audiences, p.msg.Direct)
	}
	if p.msg.Conditions == "" || p.msg.NothingToSend() {
		t.Fatalf("conditions %q: the message must keep them and count as something to send", p.msg.Conditions)
	}
	_, err = planOf(t, a, shop, `{"send_date":"2026-11-24 18:00","content":"hi","ignore_user_timezone":false,"conditions":[["City","EQ","London"]]}`)
	wantArg(t, err, "n.ignore_user_timezone: cannot be false with conditions or a broadcast: their recipients are found when the message goes out, "+
		"at send_date in its timezone (name devices or users to send at each one's local time)")
}
