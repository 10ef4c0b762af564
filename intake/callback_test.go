package intake

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/smsfleet/smsfleet/dispatcher"
	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// hooks is an application of this test whose callbacks may be plain http
// (callback_allow_http).
const (
	hooks      = "HOOKS-00004"
	hooksToken = "hooks-server"
)

// TestStatusCallbackURLs: a status_callback with credentials (user:pw@) is
// refused for every application, a plain http one unless the application
// allows http; each refusal is a 210 naming the field, and nothing is
// written (issue 13, item 11).
func TestStatusCallbackURLs(t *testing.T) {
	r := testenv.NewRedis(t)
	rdb := r.Client(t)
	st := store.New(rdb, 24*time.Hour, store.WithClock(func() time.Time { return testNow }))
	if err := st.LoadScripts(context.Background()); err != nil {
		t.Fatal(err)
	}
	o := newAPIWith(st).Options
	o.Apps = append(append(config.Applications{}, o.Apps...), config.Application{Code: hooks, ServerToken: hooksToken, CallbackAllowHTTP: true})
	shopSecret := o.CallbackSecret
	o.CallbackSecret = func(app string) string {
		if app == hooks {
			return "hooks-secret"
		}
		return shopSecret(app)
	}
	o.Enqueuer = dispatcher.NewEnqueuer(st, asynq.NewClientFromRedisClient(rdb), 3, time.Minute, func() time.Time { return testNow })
	a := NewAPI(o)
	const field = "notifications[0].status_callback"
	noUser := field + ": must not carry a user name or password (user:password@); the receiver authenticates callbacks by their signature"
	tests := []struct {
		name, app, url, err string
	}{
		{"user and password", shop, "https://user:pw@example.com/cb", noUser},
		{"user only", shop, "https://user@example.com/cb", noUser},
		{"empty password", shop, "https://user:@example.com/cb", noUser},
		{"a host that is a user", shop, "https://example.com@169.254.169.254/cb", noUser},
		{"credentials where http is allowed", hooks, "http://user:pw@example.com/cb", noUser},
		{"credentials on a bad scheme", shop, "ftp://user:pw@example.com/cb", noUser},
		{"http", shop, "http://example.com/cb", field + ": must be an https URL: application " + shop + " does not allow http callbacks (callback_allow_http in SMSFLEET_CONFIG)"},
		{"HTTP in capitals", shop, "HTTP://example.com/cb", field + ": must be an https URL: application " + shop + " does not allow http callbacks (callback_allow_http in SMSFLEET_CONFIG)"},
		{"unparsable", shop, "https://user:pw@example.com:port/cb", field + ": must be an absolute http or https URL"},
		{"https", shop, "https://example.com/cb", ""},
		{"http where allowed", hooks, "http://127.0.0.1:9000/cb", ""},
		{"https where http is allowed", hooks, "https://example.com/cb", ""},
	}
	ctx := context.Background()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, err := rdb.DBSize(ctx).Result()
			if err != nil {
				t.Fatal(err)
			}
			phone := fmt.Sprintf("+4915112000%03d", 100+i)
			raw, _ := json.Marshal(map[string]any{"notifications": []any{map[string]any{
				"send_date": "now", "content": "hi", "devices": []string{phone}, "use_auto_registration": true, "status_callback": tt.url,
			}}})
			resp, err := a.createMessage(ctx, tt.app, raw)
			wantArg(t, err, tt.err)
			if tt.err == "" {
				m, err := st.GetMessage(ctx, tt.app, resp.(createResponse).Messages[0])
				if err != nil || m.StatusCallback != tt.url {
					t.Fatalf("accepted, the message holds status_callback %q (%v), want %q", m.StatusCallback, err, tt.url)
				}
				return
			}
			if strings.Contains(err.Error(), "pw") {
				t.Errorf("the error echoes the credentials: %v", err)
			}
			after, err := rdb.DBSize(ctx).Result()
			if err != nil {
				t.Fatal(err)
			}
			if after != before {
				t.Fatalf("a refused request wrote %d keys", after-before)
			}
		})
	}
}
