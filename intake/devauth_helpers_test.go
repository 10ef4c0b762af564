package intake

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// Applications of the device-authority tests (issue 13 items 1 and 9),
// beside the shop (device token) and open (no token) of helpers_test.go.
const (
	legacy       = "LEGC1-00004" // device token, legacy_user_binding
	legacyDev    = "legacy-device"
	legacyOpen   = "LEGO1-00005" // open, legacy_user_binding
	custom       = "CUST1-00006" // open, its own consent tag
	customTag    = "MarketingOK"
	legacyToken  = "legacy-server"
	legacyOToken = "legacy-open-server"
	customToken  = "custom-server"
)

// devEnv is an intake served over HTTP on a fresh redis-server, with a
// clock the test moves.
type devEnv struct {
	api *API
	rdb *redis.Client
	srv *httptest.Server

	mu  sync.Mutex
	now time.Time
}

func (e *devEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *devEnv) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(d)
}

// newDevEnv serves the device methods of the test applications; log
// receives the API's log (nil: none).
func newDevEnv(t *testing.T, log *zap.Logger) *devEnv {
	t.Helper()
	r := testenv.NewRedis(t)
	rdb := r.Client(t)
	st := store.New(rdb, 24*time.Hour, store.WithClock(func() time.Time { return testNow }))
	if err := st.LoadScripts(context.Background()); err != nil {
		t.Fatal(err)
	}
	if log == nil {
		log = zap.NewNop()
	}
	e := &devEnv{rdb: rdb, now: testNow}
	e.api = NewAPI(Options{
		Store: st,
		Apps: config.Applications{
			{Code: shop, ServerToken: shopToken, DeviceToken: shopDev},
			{Code: open, ServerToken: openToken, OpenDevices: true},
			{Code: legacy, ServerToken: legacyToken, DeviceToken: legacyDev, LegacyUserBinding: true},
			{Code: legacyOpen, ServerToken: legacyOToken, OpenDevices: true, LegacyUserBinding: true},
			{Code: custom, ServerToken: customToken, OpenDevices: true},
		},
		MaxBodyBytes: 1 << 16, MaxRecipients: 5, DefaultRegion: "DE", ChunkSize: 2,
		Policy: func(app string) config.Resolved {
			p := defaults()
			if app == custom {
				p.ConsentTag = customTag
			}
			return p
		},
		DeliveryWait: time.Hour,
		Logger:       log,
		Now:          e.clock,
	})
	mux := http.NewServeMux()
	e.api.Register(mux)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

// devAnswer is one answer of the intake.
type devAnswer struct {
	HTTP    int
	Code    int
	Message string
	Resp    json.RawMessage
}

// call posts method with request (the inner object) and the
// Authorization header (none when empty).
func (e *devEnv) call(t *testing.T, method, header string, request map[string]any) devAnswer {
	t.Helper()
	body, err := json.Marshal(map[string]any{"request": request})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/json/1.3/"+method, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	if header != "" {
		req.Header.Set("Authorization", header)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var env struct {
		StatusCode    int             `json:"status_code"`
		StatusMessage string          `json:"status_message"`
		Response      json.RawMessage `json:"response"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatalf("%s: answer %q: %v", method, raw, err)
	}
	return devAnswer{HTTP: resp.StatusCode, Code: env.StatusCode, Message: env.StatusMessage, Resp: env.Response}
}

// mustOK calls and fails the test unless the answer is 200.
func (e *devEnv) mustOK(t *testing.T, method, header string, request map[string]any) devAnswer {
	t.Helper()
	a := e.call(t, method, header, request)
	if a.HTTP != 200 || a.Code != 200 {
		t.Fatalf("%s %v: HTTP %d status %d %q, want 200", method, request, a.HTTP, a.Code, a.Message)
	}
	return a
}

// devReq is a device call's request object.
func devReq(app, auth, hwid string, fields map[string]any) map[string]any {
	r := map[string]any{"application": app, "hwid": hwid}
	if auth != "" {
		r["auth"] = auth
	}
	for k, v := range fields {
		r[k] = v
	}
	return r
}

// keyspace is every key of the Redis with its value, canonical (DUMP is
// not: a hash's order changes as Redis rehashes it). A refused call must
// leave it as it was.
func (e *devEnv) keyspace(t *testing.T) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	it := e.rdb.Scan(ctx, 0, "*", 1000).Iterator()
	for it.Next(ctx) {
		k := it.Val()
		typ, err := e.rdb.Type(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		var parts []string
		switch typ {
		case "string":
			v, _ := e.rdb.Get(ctx, k).Result()
			parts = []string{v}
		case "hash":
			h, _ := e.rdb.HGetAll(ctx, k).Result()
			for f, v := range h {
				parts = append(parts, f+"="+v)
			}
		case "set":
			parts, _ = e.rdb.SMembers(ctx, k).Result()
		case "zset":
			zs, _ := e.rdb.ZRangeWithScores(ctx, k, 0, -1).Result()
			for _, z := range zs {
				parts = append(parts, fmt.Sprintf("%v=%v", z.Member, z.Score))
			}
		case "list":
			parts, _ = e.rdb.LRange(ctx, k, 0, -1).Result()
		default:
			v, _ := e.rdb.Dump(ctx, k).Result()
			parts = []string{v}
		}
		sort.Strings(parts)
		out[k] = typ + ":" + strings.Join(parts, "\x00")
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// sameKeyspace fails the test when after differs from before, naming
// the keys that did.
func sameKeyspace(t *testing.T, before, after map[string]string) {
	t.Helper()
	for k, v := range after {
		if before[k] != v {
			t.Errorf("key %s written: %q, was %q", k, v, before[k])
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			t.Errorf("key %s deleted", k)
		}
	}
}
