package intake

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/smsfleet/smsfleet/dispatcher"
	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// TestRedactField (issue 17): createMessage's `redact` is stored with the
// message: the notification's value, else the application's default, else
// on for security codes only. A value that is not a boolean is a 210
// naming the field, and nothing is written.
func TestRedactField(t *testing.T) {
	r := testenv.NewRedis(t)
	rdb := r.Client(t)
	st := store.New(rdb, 24*time.Hour, store.WithClock(func() time.Time { return testNow }))
	if err := st.LoadScripts(context.Background()); err != nil {
		t.Fatal(err)
	}
	o := newAPIWith(st).Options
	const private, privateToken = "PRIV0-00004", "private-server"
	o.Apps = append(append(config.Applications{}, o.Apps...), config.Application{Code: private, ServerToken: privateToken,
		Privacy: config.Privacy{Redact: ptr(true)}})
	o.Enqueuer = dispatcher.NewEnqueuer(st, asynq.NewClientFromRedisClient(rdb), 3, time.Minute, func() time.Time { return testNow })
	a := NewAPI(o)
	const field = "notifications[0].redact"
	tests := []struct {
		name, app, typ string
		redact         any // nil: absent
		err            string
		want           bool
	}{
		{"otp by default", shop, "otp", nil, "", true},
		{"transactional by default", shop, "transactional", nil, "", false},
		{"marketing asked", shop, "marketing", true, "", true},
		{"otp declined", shop, "otp", false, "", false},
		{"application default", private, "transactional", nil, "", true},
		{"application default overridden", private, "marketing", false, "", false},
		{"a string", shop, "otp", "yes", field + ": must be a boolean, got string", false},
		{"a number", shop, "otp", 1, field + ": must be a boolean, got number", false},
		{"an object", shop, "otp", map[string]any{}, field + ": must be a boolean, got object", false},
	}
	ctx := context.Background()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, err := rdb.DBSize(ctx).Result()
			if err != nil {
				t.Fatal(err)
			}
			n := map[string]any{"send_date": "now", "content": "Your code is 123456", "message_type": tt.typ,
				"devices": []string{fmt.Sprintf("+4915112000%03d", 200+i)}, "use_auto_registration": true}
			if tt.redact != nil {
				n["redact"] = tt.redact
			}
			raw, _ := json.Marshal(map[string]any{"notifications": []any{n}})
			res, err := a.createMessage(ctx, tt.app, raw)
			wantArg(t, err, tt.err)
			if tt.err != "" {
				if after, _ := rdb.DBSize(ctx).Result(); after != before {
					t.Fatalf("a refused request wrote %d keys", after-before)
				}
				return
			}
			code := res.(createResponse).Messages[0]
			m, err := st.GetMessage(ctx, tt.app, code)
			if err != nil {
				t.Fatal(err)
			}
			if m.Redact != tt.want {
				t.Errorf("stored redact %v, want %v", m.Redact, tt.want)
			}
		})
	}
}

// TestContentOfARedactedMessage: the API shows "[redacted]" (or
// "[expired]") where a removed text was, and the text otherwise.
func TestContentOfARedactedMessage(t *testing.T) {
	for _, tt := range []struct {
		m    store.Message
		want string
	}{
		{store.Message{Content: `"Your code is 1"`}, `"Your code is 1"`},
		{store.Message{TextGone: store.TextRedacted}, `"[redacted]"`},
		{store.Message{TextGone: store.TextExpired}, `"[expired]"`},
		{store.Message{}, ``},
	} {
		if got := string(contentOf(tt.m)); got != tt.want {
			t.Errorf("contentOf(%+v) = %s, want %s", tt.m, got, tt.want)
		}
	}
}
