package intake

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestSendRate: send_rate is Pushwoosh's createMessage "send_rate"
// ("Throttling. Valid values are from 100 to 1000 pushes/second",
// docs.pushwoosh.com/docs/createmessage, as quoted in
// gomoob/php-pushwoosh#39): within the range it is stored with the
// message (the workers enforce it: worker/sendrate_test.go); outside it,
// or not a whole number, it is a 210 naming the field and nothing is
// written.
func TestSendRate(t *testing.T) {
	a, _, _ := dispatchRig(t)
	ctx := context.Background()
	tests := []struct {
		name, rate, err string
		want            int
	}{
		{"the lowest", `100`, "", 100},
		{"the highest", `1000`, "", 1000},
		{"below the range", `99`, "notifications[0].send_rate: must be from 100 to 1000 SMS per second, got 99", 0},
		{"above the range", `1001`, "notifications[0].send_rate: must be from 100 to 1000 SMS per second, got 1001", 0},
		{"zero", `0`, "notifications[0].send_rate: must be from 100 to 1000 SMS per second, got 0", 0},
		{"negative", `-100`, "notifications[0].send_rate: must be from 100 to 1000 SMS per second, got -100", 0},
		{"a fraction", `150.5`, "notifications[0].send_rate: must be", 0},
		{"a string", `"fast"`, "notifications[0].send_rate: must be", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _, err := a.Store.ListMessages(ctx, shop, 100, 0)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := a.createMessage(ctx, shop, json.RawMessage(`{"notifications":[{"send_date":"now","content":"hi","devices":["`+p1+`","`+p2+`"],"use_auto_registration":true,"send_rate":`+tt.rate+`}]}`))
			if tt.err != "" {
				var ae *apiError
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.As(err, &ae) || ae.Code != codeArgument {
					t.Fatalf("send_rate %s: %v, want a 210 with %q", tt.rate, err, tt.err)
				}
				after, _, err := a.Store.ListMessages(ctx, shop, 100, 0)
				if err != nil || len(after) != len(before) {
					t.Fatalf("%d messages before, %d after (%v): the refused notification was written", len(before), len(after), err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m, err := a.Store.GetMessage(ctx, shop, resp.(createResponse).Messages[0])
			if err != nil || m.SendRate != tt.want {
				t.Fatalf("stored send rate %d (%v), want %d", m.SendRate, err, tt.want)
			}
		})
	}
}
