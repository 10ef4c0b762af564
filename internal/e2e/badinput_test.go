package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/e2e/harness"
	"github.com/smsfleet/smsfleet/internal/fleet"
	"github.com/smsfleet/smsfleet/internal/traffic"
)

// badInputMaxRecipients and badInputMaxBody are the limits of the fleet
// TestBadInput runs against: small, so a case can exceed them cheaply.
const (
	badInputMaxRecipients = 3
	badInputMaxBody       = 2048
)

// badInputQueues are the asynq queues whose waiting tasks a rejected
// request must not add to.
var badInputQueues = []string{"otp", "transactional", "marketing", "dispatch"}

// keyspace is what a rejected request must leave untouched: every smsfleet
// key with its serialized value, and the ids of asynq's waiting tasks.
type keyspace struct {
	keys  map[string]string // sf:* key -> its value, canonical
	tasks map[string]bool   // "queue/state/id"
}

func keyspaceOf(e *harness.Env) keyspace {
	e.T.Helper()
	ctx := context.Background()
	ks := keyspace{keys: map[string]string{}, tasks: map[string]bool{}}
	for _, k := range e.ScanKeys("sf:*") {
		if traffic.IsHeartbeat(k) {
			continue // pods report what they applied every poll, requests or not
		}
		ks.keys[k] = canonicalValue(e, ctx, k)
	}
	insp := asynq.NewInspectorFromRedisClient(e.Client)
	for _, q := range badInputQueues {
		lists := map[string]func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
			"pending": insp.ListPendingTasks, "scheduled": insp.ListScheduledTasks, "retry": insp.ListRetryTasks,
		}
		for state, list := range lists {
			infos, err := list(q, asynq.PageSize(10000))
			if errors.Is(err, asynq.ErrQueueNotFound) {
				continue
			}
			if err != nil {
				e.T.Fatalf("asynq %s tasks of %s: %v", state, q, err)
			}
			for _, ti := range infos {
				ks.tasks[q+"/"+state+"/"+ti.ID] = true
			}
		}
	}
	return ks
}

// canonicalValue renders key's value so that equal contents compare equal
// (DUMP does not: a hash table's order changes as Redis rehashes it).
func canonicalValue(e *harness.Env, ctx context.Context, key string) string {
	e.T.Helper()
	typ, err := e.Client.Type(ctx, key).Result()
	if err != nil {
		e.T.Fatalf("type %s: %v", key, err)
	}
	var parts []string
	switch typ {
	case "none": // expired between SCAN and now
		return "none"
	case "string":
		v, err := e.Client.Get(ctx, key).Result()
		if err != nil {
			return "none"
		}
		return "string:" + v
	case "hash":
		h, err := e.Client.HGetAll(ctx, key).Result()
		if err != nil {
			e.T.Fatalf("hgetall %s: %v", key, err)
		}
		for f, v := range h {
			parts = append(parts, f+"="+v)
		}
	case "set":
		parts, err = e.Client.SMembers(ctx, key).Result()
		if err != nil {
			e.T.Fatalf("smembers %s: %v", key, err)
		}
	case "zset":
		zs, err := e.Client.ZRangeWithScores(ctx, key, 0, -1).Result()
		if err != nil {
			e.T.Fatalf("zrange %s: %v", key, err)
		}
		for _, z := range zs {
			parts = append(parts, fmt.Sprintf("%v=%v", z.Member, z.Score))
		}
	case "list":
		l, err := e.Client.LRange(ctx, key, 0, -1).Result()
		if err != nil {
			e.T.Fatalf("lrange %s: %v", key, err)
		}
		return "list:" + strings.Join(l, "\x00")
	case "stream":
		xs, err := e.Client.XRange(ctx, key, "-", "+").Result()
		if err != nil {
			e.T.Fatalf("xrange %s: %v", key, err)
		}
		for _, x := range xs {
			parts = append(parts, fmt.Sprintf("%s=%v", x.ID, x.Values))
		}
		return "stream:" + strings.Join(parts, "\x00")
	default:
		e.T.Fatalf("key %s has unexpected type %s", key, typ)
	}
	sort.Strings(parts)
	return typ + ":" + strings.Join(parts, "\x00")
}

// diff describes how after differs from ks ("" when it does not).
func (ks keyspace) diff(after keyspace) string {
	var out []string
	for k, v := range after.keys {
		old, ok := ks.keys[k]
		switch {
		case !ok:
			out = append(out, "new key "+k)
		case old != v:
			out = append(out, "changed key "+k)
		}
	}
	for k := range ks.keys {
		if _, ok := after.keys[k]; !ok {
			out = append(out, "deleted key "+k)
		}
	}
	for id := range after.tasks {
		if !ks.tasks[id] {
			out = append(out, "new task "+id)
		}
	}
	for id := range ks.tasks {
		if !after.tasks[id] {
			out = append(out, "task gone "+id)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

// nativeGet GETs a native API path and returns the status and the body's
// "error" (native errors are {"error": "..."}).
func nativeGet(e *harness.Env, path, header string) (int, string) {
	e.T.Helper()
	hr, _ := http.NewRequest(http.MethodGet, e.API.URL+path, nil)
	if header != "" {
		hr.Header.Set("Authorization", header)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		e.T.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body struct{ Error string }
	if resp.StatusCode != http.StatusOK {
		if err := json.Unmarshal(raw, &body); err != nil {
			e.T.Fatalf("GET %s: HTTP %d, body is not JSON: %s", path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, body.Error
}

// goodNotification is a valid notification to now-registered phone to;
// with overrides applied (a nil value removes the field).
func goodNotification(to string, overrides map[string]any) map[string]any {
	n := map[string]any{"send_date": "now", "content": "hello", "devices": []string{to}}
	for k, v := range overrides {
		if v == nil {
			delete(n, k)
			continue
		}
		n[k] = v
	}
	return n
}

func TestBadInput(t *testing.T) {
	e := harness.New(t, func(c *config.Config, _ *fleet.Roles) {
		c.MaxRecipients = badInputMaxRecipients
		c.MaxBodyBytes = badInputMaxBody
	})
	reg := harness.Phones(100, 2)   // registered in shopApp
	crowd := harness.Phones(110, 4) // registered in shopApp as user "crowd": more than the maximum
	unreg := harness.Phones(120, 1)[0]
	e.Register(harness.ShopApp, harness.ShopToken, reg...)
	for _, p := range crowd {
		e.MustOK("registerDevice", map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken, "hwid": p, "device_type": 18, "userId": "crowd"})
	}

	// A message that is fully sent: deleteMessage has nothing to cancel.
	sentCode := e.Send(goodNotification(reg[0], nil))
	e.WaitCounts(sentCode, map[string]int64{"sent": 1}, 10*time.Second)

	yesterday := e.Clock.Now().Add(-24 * time.Hour).UTC().Format("2006-01-02 15:04")
	// create builds a createMessage request of shopApp with its server token.
	create := func(notifications ...any) map[string]any {
		return map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken, "notifications": notifications}
	}
	one := func(overrides map[string]any) map[string]any { return create(goodNotification(reg[0], overrides)) }
	device := func(fields map[string]any) map[string]any {
		req := map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken, "hwid": reg[1], "device_type": 18}
		for k, v := range fields {
			if v == nil {
				delete(req, k)
				continue
			}
			req[k] = v
		}
		return req
	}
	// withContent is a createMessage body whose content is raw bytes,
	// which json.Marshal would have made valid UTF-8.
	withContent := func(raw string) []byte {
		b, _ := json.Marshal(map[string]any{"request": one(map[string]any{"content": "CONTENT-HERE"})})
		return []byte(strings.Replace(string(b), "CONTENT-HERE", raw, 1))
	}
	manyTags := map[string]any{}
	for i := range 101 {
		manyTags[fmt.Sprintf("t%d", i)] = i
	}
	oversized, _ := json.Marshal(map[string]any{"request": one(map[string]any{"content": strings.Repeat("x", 2*badInputMaxBody)})})

	cases := []badCase{
		// Transport and envelope.
		{name: "malformed JSON", raw: `{"request": {"application": "` + harness.ShopApp + `", `, http: 400, field: "JSON"},
		{name: "trailing garbage", raw: `{"request": {"application": "` + harness.ShopApp + `"}} x`, http: 400, field: "JSON"},
		{name: "request not an object", raw: `{"request": "createMessage"}`, http: 400, field: "request"},
		{name: "body over the limit", rawB: oversized, http: 413, field: "body"},
		{name: "body an array", raw: `[]`, http: 400, field: `body must be {"request": {...}}, got array`},
		{name: "body a string", raw: `"createMessage"`, http: 400, field: `body must be {"request": {...}}, got string`},
		{name: "unknown method", method: "createMassage", req: one(nil), http: 404, field: "createMassage"},

		// Authentication and authorization.
		{name: "missing token", req: map[string]any{"application": harness.ShopApp, "notifications": []any{goodNotification(reg[0], nil)}}, http: 401, field: "token"},
		{name: "wrong token in auth", req: map[string]any{"application": harness.ShopApp, "auth": "not-a-token-at-all", "notifications": []any{goodNotification(reg[0], nil)}}, http: 401, field: "token"},
		{name: "wrong token in header", req: map[string]any{"application": harness.ShopApp, "notifications": []any{goodNotification(reg[0], nil)}}, header: "Token not-a-token-at-all", http: 401, field: "token"},
		{name: "another application's token", req: map[string]any{"application": harness.ShopApp, "auth": harness.BankToken, "notifications": []any{goodNotification(reg[0], nil)}}, http: 403, field: harness.ShopApp},
		{name: "another application's token in header", req: map[string]any{"application": harness.ShopApp, "notifications": []any{goodNotification(reg[0], nil)}}, header: "Token " + harness.BankToken, http: 403, field: harness.ShopApp},
		{name: "device token on createMessage", req: map[string]any{"application": harness.ShopApp, "auth": harness.ShopDevice, "notifications": []any{goodNotification(reg[0], nil)}}, http: 403, field: "server token"},
		{name: "device token in header on createMessage", req: map[string]any{"application": harness.ShopApp, "notifications": []any{goodNotification(reg[0], nil)}}, header: "Token " + harness.ShopDevice, http: 403, field: "server token"},
		{name: "device token on deleteMessage", method: "deleteMessage", req: map[string]any{"application": harness.ShopApp, "auth": harness.ShopDevice, "message": sentCode}, http: 403, field: "server token"},
		{name: "unknown application", req: map[string]any{"application": "NOPE0-00000", "auth": harness.ShopToken, "notifications": []any{goodNotification(reg[0], nil)}}, http: 200, code: 210, field: "application"},
		{name: "application not a string", req: map[string]any{"application": 12345, "auth": harness.ShopToken, "notifications": []any{goodNotification(reg[0], nil)}}, http: 200, code: 210, field: "application"},

		// Device calls.
		{name: "registerDevice hwid not a phone", method: "registerDevice", req: device(map[string]any{"hwid": "12345"}), http: 200, code: 210, field: "hwid"},
		{name: "registerDevice hwid letters", method: "registerDevice", req: device(map[string]any{"hwid": "+49 call me"}), http: 200, code: 210, field: "hwid"},
		{name: "registerDevice hwid missing", method: "registerDevice", req: device(map[string]any{"hwid": nil}), http: 200, code: 210, field: "hwid"},
		{name: "registerDevice device_type 3", method: "registerDevice", req: device(map[string]any{"hwid": unreg, "device_type": 3}), http: 200, code: 210, field: "device_type"},
		{name: "registerDevice device_type missing", method: "registerDevice", req: device(map[string]any{"hwid": unreg, "device_type": nil}), http: 200, code: 210, field: "device_type"},
		{name: "registerDevice device_type a string", method: "registerDevice", req: device(map[string]any{"hwid": unreg, "device_type": "18"}), http: 200, code: 210, field: "device_type"},
		{name: "registerDevice bad timezone", method: "registerDevice", req: device(map[string]any{"hwid": unreg, "timezone": "Europe/Nowhere"}), http: 200, code: 210, field: "timezone"},
		{name: "registerDevice timezone Local", method: "registerDevice", req: device(map[string]any{"hwid": unreg, "timezone": "Local"}), http: 200, code: 210, field: "timezone"},
		{name: "registerDevice language too long", method: "registerDevice", req: device(map[string]any{"hwid": unreg, "language": strings.Repeat("e", 36)}), http: 200, code: 210, field: "language"},
		{name: "registerDevice language not BCP 47", method: "registerDevice", req: device(map[string]any{"hwid": unreg, "language": "en glish"}), http: 200, code: 210, field: "language"},
		{name: "registerDevice 101 tags", method: "registerDevice", req: device(map[string]any{"hwid": unreg, "tags": manyTags}), http: 200, code: 210, field: "tags"},
		{name: "registerDevice NUL in a tag name", method: "registerDevice", req: device(map[string]any{"hwid": unreg, "tags": map[string]any{"a\x00b": "x"}}), http: 200, code: 210, field: "tags"},
		{name: "setTags 101 tags", method: "setTags", req: device(map[string]any{"device_type": nil, "tags": manyTags}), http: 200, code: 210, field: "tags"},
		{name: "registerDevice userId too long", method: "registerDevice", req: device(map[string]any{"hwid": unreg, "userId": strings.Repeat("u", 257)}), http: 200, code: 210, field: "userId"},
		{name: "registerDevice bad tag value", method: "registerDevice", req: device(map[string]any{"hwid": unreg, "tags": map[string]any{"nested": map[string]any{"a": 1}}}), http: 200, code: 210, field: "tags.nested"},

		// createMessage notifications.
		{name: "no notifications", req: map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken}, http: 200, code: 210, field: "notifications"},
		{name: "empty notifications", req: create(), http: 200, code: 210, field: "notifications"},
		{name: "notification not an object", req: create(42), http: 200, code: 210, field: "notifications[0]"},
		{name: "notifications not an array", req: map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken, "notifications": "hello"}, http: 200, code: 210, field: "notifications"},
		{name: "content missing", req: one(map[string]any{"content": nil}), http: 200, code: 210, field: "notifications[0].content"},
		{name: "content null", req: create(map[string]any{"send_date": "now", "devices": reg[:1], "content": nil}), http: 200, code: 210, field: "notifications[0].content"},
		{name: "content empty", req: one(map[string]any{"content": ""}), http: 200, code: 210, field: "notifications[0].content"},
		{name: "content blank", req: one(map[string]any{"content": "  \n "}), http: 200, code: 210, field: "notifications[0].content"},
		{name: "content a number", req: one(map[string]any{"content": 42}), http: 200, code: 210, field: "notifications[0].content"},
		{name: "content a list", req: one(map[string]any{"content": []string{"a", "b"}}), http: 200, code: 210, field: "notifications[0].content"},
		{name: "no devices and no users", req: one(map[string]any{"devices": []string{}, "users": []string{}}), http: 200, code: 210, field: "notifications[0].devices"},
		{name: "devices and users null", req: one(map[string]any{"devices": json.RawMessage("null"), "users": json.RawMessage("null")}), http: 200, code: 210, field: "notifications[0].devices"},
		{name: "devices not strings", req: one(map[string]any{"devices": []any{4915112000100}}), http: 200, code: 210, field: "notifications[0].devices"},
		{name: "empty user id", req: one(map[string]any{"devices": nil, "users": []string{"crowd", ""}}), http: 200, code: 210, field: "notifications[0].users[1]"},
		{name: "send_date missing", req: one(map[string]any{"send_date": nil}), http: 200, code: 210, field: "notifications[0].send_date"},
		{name: "send_date bad format", req: one(map[string]any{"send_date": "2031/01/02 10:00"}), http: 200, code: 210, field: "notifications[0].send_date"},
		{name: "send_date with seconds", req: one(map[string]any{"send_date": "2031-01-02 10:00:00"}), http: 200, code: 210, field: "notifications[0].send_date"},
		{name: "send_date impossible", req: one(map[string]any{"send_date": "2031-02-30 25:61"}), http: 200, code: 210, field: "notifications[0].send_date"},
		{name: "send_date yesterday", req: one(map[string]any{"send_date": yesterday}), http: 200, code: 210, field: "notifications[0].send_date"},
		{name: "bad timezone", req: one(map[string]any{"send_date": later, "timezone": "Mars/Olympus_Mons"}), http: 200, code: 210, field: "notifications[0].timezone"},
		{name: "timezone Local", req: one(map[string]any{"send_date": later, "timezone": "Local"}), http: 200, code: 210, field: "notifications[0].timezone"},
		{name: "validity overflows up", req: one(map[string]any{"validity": int64(18446744075)}), http: 200, code: 210, field: "notifications[0].validity"},
		{name: "validity overflows down", req: one(map[string]any{"validity": int64(-18446744072)}), http: 200, code: 210, field: "notifications[0].validity"},
		{name: "content with NUL", req: one(map[string]any{"content": "hi\x00"}), http: 200, code: 210, field: "notifications[0].content"},
		{name: "content invalid UTF-8", rawB: withContent("caf\xe9"), http: 200, code: 210, field: "notifications[0].content"},
		{name: "content lone surrogate", rawB: withContent(`caf\ud800`), http: 200, code: 210, field: "notifications[0].content"},
		{name: "transactionId too long", req: one(map[string]any{"transactionId": strings.Repeat("t", 129)}), http: 200, code: 210, field: "notifications[0].transactionId"},
		{name: "platforms not a list", req: one(map[string]any{"platforms": "sms"}), http: 200, code: 210, field: "notifications[0].platforms"},
		{name: "unknown message_type", req: one(map[string]any{"message_type": "bulk"}), http: 200, code: 210, field: "notifications[0].message_type"},
		{name: "more devices than the maximum", req: one(map[string]any{"devices": harness.Phones(100, badInputMaxRecipients+1)}), http: 200, code: 210, field: "notifications[0].devices"},
		{name: "users resolving to more than the maximum", req: one(map[string]any{"devices": nil, "users": []string{"crowd"}}), http: 200, code: 210, field: "notifications[0].users"},
		{name: "invalid phone in devices", req: one(map[string]any{"devices": []string{reg[0], "not-a-phone"}}), http: 200, code: 210, field: "notifications[0].devices[1]"},
		{name: "invalid phone in a single-string devices", req: one(map[string]any{"devices": "+49"}), http: 200, code: 210, field: "notifications[0].devices[0]"},
		{
			name: "second notification bad, first good",
			req: create(
				goodNotification(unreg, map[string]any{"use_auto_registration": true, "send_date": later, "transactionId": "first-of-two"}),
				goodNotification(reg[0], map[string]any{"content": ""}),
			),
			http: 200, code: 210, field: "notifications[1].content",
		},
		{
			name:   "createSMSMessage validates alike",
			method: "createSMSMessage",
			req:    create(goodNotification(reg[0], nil), goodNotification(reg[1], map[string]any{"devices": []string{"nope"}})),
			http:   200, code: 210, field: "notifications[1].devices[0]",
		},

		// Messages and statistics.
		{name: "deleteMessage unknown code", method: "deleteMessage", req: map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken, "message": "0000-NOPE"}, http: 200, code: 210, field: "message"},
		{name: "deleteMessage without code", method: "deleteMessage", req: map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken}, http: 200, code: 210, field: "message"},
		{name: "deleteMessage already sent", method: "deleteMessage", req: map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken, "message": sentCode}, http: 200, code: 210, field: "message"},
		{name: "getMsgStats unknown code", method: "getMsgStats", req: map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken, "message": "0000-NOPE"}, http: 200, code: 210, field: "message"},
		{name: "getResults unknown request_id", method: "getResults", req: map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken, "request_id": "no-such-request"}, http: 200, code: 210, field: "request_id"},
		{name: "getResults without request_id", method: "getResults", req: map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken}, http: 200, code: 210, field: "request_id"},

		// Native API.
		{name: "native message without token", native: "/api/v1/messages/" + sentCode, http: 401, field: "Token"},
		{name: "native list without token", native: "/api/v1/messages", http: 401, field: "Token"},
		{name: "native bad token", native: "/api/v1/messages/" + sentCode, header: "Token not-a-token-at-all", http: 401, field: "token"},
		{name: "native bearer scheme", native: "/api/v1/messages", header: "Bearer " + harness.ShopToken, http: 401, field: "Token"},
		{name: "native device token", native: "/api/v1/messages", header: "Token " + harness.ShopDevice, http: 403, field: "server token"},
		{name: "native another application's message", native: "/api/v1/messages/" + sentCode, header: "Token " + harness.BankToken, http: 404, field: sentCode},
		{name: "native unknown message", native: "/api/v1/messages/0000-NOPE", header: "Token " + harness.ShopToken, http: 404, field: "0000-NOPE"},
		{name: "native limit not a number", native: "/api/v1/messages?limit=ten", header: "Token " + harness.ShopToken, http: 400, field: "limit"},
		{name: "native limit zero", native: "/api/v1/messages/" + sentCode + "?limit=0", header: "Token " + harness.ShopToken, http: 400, field: "limit"},
		{name: "native limit too big", native: "/api/v1/messages?limit=100000", header: "Token " + harness.ShopToken, http: 400, field: "limit"},
		{name: "native negative cursor", native: "/api/v1/messages?cursor=-1", header: "Token " + harness.ShopToken, http: 400, field: "cursor"},
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.T = t
			before := keyspaceOf(e)
			if tc.native != "" {
				checkBadNative(t, e, tc)
			} else {
				checkBadCall(t, e, tc)
			}
			if d := before.diff(keyspaceOf(e)); d != "" {
				t.Errorf("a rejected request changed the store: %s", d)
			}
		})
	}
	e.T = t

	// The sent message is untouched by all of the above.
	v := e.Message(sentCode)
	if !harness.CountsEqual(v.Message.Counts, map[string]int64{"sent": 1}) || v.Message.Canceled {
		t.Errorf("sent message after the bad inputs: counts %v canceled %v", harness.NonZero(v.Message.Counts), v.Message.Canceled)
	}
	if n := len(e.Sim.Messages("", 100)); n != 1 {
		t.Errorf("the simulator received %d SMS, want only the one sent on purpose", n)
	}
}

// later is a send_date two months ahead: scheduled, well inside the
// one-year horizon.
var later = time.Now().UTC().Add(60 * 24 * time.Hour).Format("2006-01-02 15:04")

// badCase is one bad input of TestBadInput and what it must be answered.
type badCase struct {
	name   string
	method string // default createMessage
	req    any    // sent as {"request": req}
	raw    string // sent as the body instead of req
	rawB   []byte
	header string // Authorization
	native string // GET this native path instead
	http   int
	code   int // status_code; default http
	// field must begin the status_message of a 210 ("field: ..."), and
	// otherwise appear in it.
	field string
}

// checkBadNative GETs tc's native path and checks the HTTP status and
// that the error mentions tc.field.
func checkBadNative(t *testing.T, e *harness.Env, tc badCase) {
	t.Helper()
	st, msg := nativeGet(e, tc.native, tc.header)
	if st != tc.http {
		t.Errorf("GET %s: HTTP %d (%q), want %d", tc.native, st, msg, tc.http)
	}
	if !strings.Contains(msg, tc.field) {
		t.Errorf("GET %s: error %q does not mention %q", tc.native, msg, tc.field)
	}
}

// checkBadCall sends tc to the JSON API and checks the HTTP status and
// status_code, that the status_message names tc.field, and that no
// response comes with the error.
func checkBadCall(t *testing.T, e *harness.Env, tc badCase) {
	t.Helper()
	method := tc.method
	if method == "" {
		method = "createMessage"
	}
	var r harness.Reply
	switch {
	case tc.rawB != nil:
		r = e.Post(method, tc.rawB, tc.header)
	case tc.raw != "":
		r = e.Post(method, []byte(tc.raw), tc.header)
	default:
		r = e.Call(method, tc.req, tc.header)
	}
	code := tc.code
	if code == 0 {
		code = tc.http
	}
	if r.HTTP != tc.http || r.StatusCode != code {
		t.Errorf("%s: HTTP %d status_code %d (%q), want HTTP %d status_code %d", method, r.HTTP, r.StatusCode, r.StatusMessage, tc.http, code)
	}
	if code == 210 {
		if !strings.HasPrefix(r.StatusMessage, tc.field+": ") {
			t.Errorf("%s: status_message %q does not start with %q", method, r.StatusMessage, tc.field+": ")
		}
	} else if !strings.Contains(r.StatusMessage, tc.field) {
		t.Errorf("%s: status_message %q does not mention %q", method, r.StatusMessage, tc.field)
	}
	if len(r.Response) != 0 && string(r.Response) != "null" {
		t.Errorf("%s: an error carries a response: %s", method, r.Response)
	}
}

// TestBadInputFarFutureSendDate: a send_date more than a year ahead is a
// 210 naming it, with nothing stored (and never an internal error from an
// expiry that overflows); one just inside the horizon is accepted.
func TestBadInputFarFutureSendDate(t *testing.T) {
	e := harness.New(t)
	to := harness.Phones(700, 1)[0]
	e.Register(harness.ShopApp, harness.ShopToken, to)
	inside := time.Now().UTC().Add(360 * 24 * time.Hour).Format("2006-01-02 15:04")
	outside := time.Now().UTC().Add(370 * 24 * time.Hour).Format("2006-01-02 15:04")
	for _, date := range []string{outside, "2099-12-31 23:59", "2400-01-01 00:00", "9999-12-31 23:59"} {
		t.Run(date, func(t *testing.T) {
			e.T = t
			before := keyspaceOf(e)
			r := e.Call("createMessage", map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken, "notifications": []any{goodNotification(to, map[string]any{"send_date": date})}}, "")
			if r.HTTP != 200 || r.StatusCode != 210 || !strings.HasPrefix(r.StatusMessage, "notifications[0].send_date: ") {
				t.Fatalf("send_date %s: HTTP %d status %d %q, want a 210 naming notifications[0].send_date", date, r.HTTP, r.StatusCode, r.StatusMessage)
			}
			if d := before.diff(keyspaceOf(e)); d != "" {
				t.Errorf("a refused request changed the store: %s", d)
			}
		})
	}
	e.T = t
	code := e.Send(goodNotification(to, map[string]any{"send_date": inside}))
	v := e.Message(code)
	if v.Message.Recipients != 1 || !harness.CountsEqual(v.Message.Counts, map[string]int64{"scheduled": 1}) {
		t.Fatalf("message 360 days ahead: recipients %d, counts %v", v.Message.Recipients, harness.NonZero(v.Message.Counts))
	}
	// The message's header key, in whichever layout the run's Redis has.
	keys := e.ScanKeys("sf:m:*" + code)
	if len(keys) != 1 {
		t.Fatalf("message header keys of %s: %v", code, keys)
	}
	ttl, err := e.Client.TTL(context.Background(), keys[0]).Result()
	if err != nil || ttl < 360*24*time.Hour {
		t.Fatalf("message 360 days ahead expires in %s (%v); it must outlive its send date", ttl, err)
	}
}
