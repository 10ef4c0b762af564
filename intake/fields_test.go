package intake

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestUnknownNotificationFields: a field smsfleet does not implement is a
// 210 naming it and nothing is written, above all targeting it cannot
// honour ("conditions" sent a "London only" message to Paris when it was
// skipped); push-only presentation fields are accepted and ignored.
func TestUnknownNotificationFields(t *testing.T) {
	a, _ := planAPI(t)
	ctx := context.Background()
	tests := []struct {
		name, extra, err string
	}{
		{"filter targeting", `"filter":"London"`, `notifications[0].filter: is not supported by smsfleet`},
		{"a segment", `"segment":"vip"`, `notifications[0].segment: is not supported by smsfleet`},
		{"a typo", `"devises":["+4915112000009"]`, `notifications[0].devises: is not supported by smsfleet`},
		{"the first unknown in sorted order", `"zeta":1,"alpha":2`, `notifications[0].alpha: is not supported by smsfleet`},
		{"push-only options are ignored", `"ios_badges":5,"android_icon":"x","title":"t","data":{"k":"v"},"link":"https://example.com"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _, err := a.Store.ListMessages(ctx, shop, 100, 0)
			if err != nil {
				t.Fatal(err)
			}
			n := `{"send_date":"now","content":"hi","devices":["` + p1 + `"],` + tt.extra + `}`
			if tt.err == "" {
				// Planned (validated and resolved) without an error; this
				// API has no enqueuer, so it is not written.
				if _, err := a.planNotification(ctx, shop, "notifications[0]", json.RawMessage(n)); err != nil {
					t.Fatalf("planNotification: %v, want it accepted", err)
				}
				return
			}
			_, err = a.createMessage(ctx, shop, json.RawMessage(`{"notifications":[`+n+`]}`))
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("createMessage: %v, want an error with %q", err, tt.err)
			}
			after, _, err := a.Store.ListMessages(ctx, shop, 100, 0)
			if err != nil || len(after) != len(before) {
				t.Fatalf("%d messages before, %d after (%v): the refused notification was written", len(before), len(after), err)
			}
		})
	}
}
