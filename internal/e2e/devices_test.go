package e2e_test

import (
	"context"
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/e2e/harness"
)

// deviceReq builds a device call of app with the given credentials and
// extra fields (a nil value leaves the field out).
func deviceReq(app, auth, hwid string, fields map[string]any) map[string]any {
	req := map[string]any{"hwid": hwid}
	if app != "" {
		req["application"] = app
	}
	if auth != "" {
		req["auth"] = auth
	}
	for k, v := range fields {
		if v == nil {
			delete(req, k)
			continue
		}
		req[k] = v
	}
	return req
}

// tagsOf calls getTags with shopApp's server token and returns the tags,
// failing the test unless the call succeeds.
func tagsOf(e *harness.Env, app, token, hwid string) map[string]any {
	e.T.Helper()
	r := e.Call("getTags", deviceReq(app, token, hwid, nil), "")
	if r.HTTP != 200 || r.StatusCode != 200 {
		e.T.Fatalf("getTags %s %s: HTTP %d status %d %q", app, hwid, r.HTTP, r.StatusCode, r.StatusMessage)
	}
	var resp struct {
		Result map[string]any `json:"result"`
	}
	if err := json.Unmarshal(r.Response, &resp); err != nil {
		e.T.Fatalf("getTags response %s: %v", r.Response, err)
	}
	if resp.Result == nil {
		e.T.Fatalf("getTags response %s has no result object", r.Response)
	}
	return resp.Result
}

// want210 fails unless r is HTTP 200 with status_code 210 naming field.
func want210(t testing.TB, what string, r harness.Reply, field string) {
	t.Helper()
	if r.HTTP != 200 || r.StatusCode != 210 || !strings.HasPrefix(r.StatusMessage, field+": ") {
		t.Errorf("%s: HTTP %d status %d %q, want 200/210 naming %s", what, r.HTTP, r.StatusCode, r.StatusMessage, field)
	}
}

// jsonValue decodes a JSON literal, for comparing tag values.
func jsonValue(t testing.TB, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestDeviceRegisterNormalisesPhone(t *testing.T) {
	e := harness.New(t)
	ctx := context.Background()
	cases := []struct {
		name, hwid, e164 string
		// lookup is another spelling of the phone getTags is called with.
		lookup string
		tags   map[string]any
	}{
		{name: "spaces", hwid: "+49 151 12000123", e164: "+4915112000123", lookup: "+4915112000123",
			tags: map[string]any{"plan": "gold", "age": 42, "vip": true, "langs": []string{"de", "en"}}},
		{name: "dashes", hwid: "+49-151-1200-0124", e164: "+4915112000124", lookup: "+49 151 12000124",
			tags: map[string]any{"plan": "silver"}},
		{name: "surrounding blanks", hwid: "  +4915112000125 ", e164: "+4915112000125", lookup: "+4915112000125"},
		{name: "national trunk zero", hwid: "+49 (0)151 12000126", e164: "+4915112000126", lookup: "+4915112000126"},
		{name: "already E.164", hwid: "+4915112000127", e164: "+4915112000127", lookup: "+49 1511 2000127",
			tags: map[string]any{"empty": "", "zero": 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.T = t
			fields := map[string]any{"device_type": 18}
			if tc.tags != nil {
				fields["tags"] = tc.tags
			}
			r := e.Call("registerDevice", deviceReq(harness.ShopApp, harness.ShopToken, tc.hwid, fields), "")
			if r.HTTP != 200 || r.StatusCode != 200 {
				t.Fatalf("registerDevice %q: HTTP %d status %d %q", tc.hwid, r.HTTP, r.StatusCode, r.StatusMessage)
			}
			// Stored under its E.164 form, and only that.
			if n, err := e.Client.Exists(ctx, e.DeviceKey(harness.ShopApp, tc.e164)).Result(); err != nil || n != 1 {
				t.Errorf("device key of %s: exists %d, %v", tc.e164, n, err)
			}
			if ok, err := e.Client.SIsMember(ctx, e.DevicesKey(harness.ShopApp), tc.e164).Result(); err != nil || !ok {
				t.Errorf("%s is not in the application's device set (%v)", tc.e164, err)
			}
			got := tagsOf(e, harness.ShopApp, harness.ShopToken, tc.lookup)
			want := map[string]any{}
			if tc.tags != nil {
				raw, _ := json.Marshal(tc.tags)
				_ = json.Unmarshal(raw, &want)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("getTags(%s) = %v, want %v", tc.lookup, got, want)
			}
		})
	}
	e.T = t
	// Every spelling registered one device each: five in all.
	members, err := e.Client.SMembers(ctx, e.DevicesKey(harness.ShopApp)).Result()
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(members)
	if want := harness.Phones(123, 5); !reflect.DeepEqual(members, want) {
		t.Errorf("registered devices %v, want %v", members, want)
	}
	// Registering a spelling of a known phone again updates, not duplicates.
	e.MustOK("registerDevice", deviceReq(harness.ShopApp, harness.ShopToken, "+49 151 1200 0123", map[string]any{"device_type": 18, "tags": map[string]any{"plan": "platinum"}}))
	if n, _ := e.Client.SCard(ctx, e.DevicesKey(harness.ShopApp)).Result(); n != 5 {
		t.Errorf("after re-registering: %d devices, want 5", n)
	}
	if got := tagsOf(e, harness.ShopApp, harness.ShopToken, "+4915112000123"); got["plan"] != "platinum" || got["age"] != float64(42) {
		t.Errorf("re-registration did not merge tags: %v", got)
	}
}

func TestDeviceTags(t *testing.T) {
	e := harness.New(t)
	phone := harness.Phones(200, 1)[0]
	unknown := harness.Phones(210, 1)[0]
	e.MustOK("registerDevice", deviceReq(harness.ShopApp, harness.ShopToken, phone, map[string]any{
		"device_type": 18, "tags": map[string]any{"plan": "gold", "age": 42, "langs": []string{"de"}},
	}))

	type step struct {
		name   string
		method string
		req    map[string]any
		// want210 names the field of an expected 210; empty means success.
		want210 string
		// tags, when set, are what getTags must return after the step.
		tags string
	}
	steps := []step{
		{name: "tags set at registration", method: "getTags", req: deviceReq(harness.ShopApp, harness.ShopToken, phone, nil),
			tags: `{"plan":"gold","age":42,"langs":["de"]}`},
		{name: "setTags merges", method: "setTags", req: deviceReq(harness.ShopApp, harness.ShopToken, phone, map[string]any{"tags": map[string]any{"plan": "silver", "city": "Berlin"}}),
			tags: `{"plan":"silver","age":42,"langs":["de"],"city":"Berlin"}`},
		{name: "null deletes a tag", method: "setTags", req: deviceReq(harness.ShopApp, harness.ShopToken, phone, map[string]any{"tags": map[string]any{"age": nil, "vip": true}}),
			tags: `{"plan":"silver","langs":["de"],"city":"Berlin","vip":true}`},
		{name: "null of an absent tag is harmless", method: "setTags", req: deviceReq(harness.ShopApp, harness.ShopToken, phone, map[string]any{"tags": map[string]any{"never": nil}}),
			tags: `{"plan":"silver","langs":["de"],"city":"Berlin","vip":true}`},
		{name: "list tag replaced", method: "setTags", req: deviceReq(harness.ShopApp, harness.ShopToken, phone, map[string]any{"tags": map[string]any{"langs": []string{"en", "fr"}}}),
			tags: `{"plan":"silver","langs":["en","fr"],"city":"Berlin","vip":true}`},
		{name: "setTags through another spelling", method: "setTags", req: deviceReq(harness.ShopApp, harness.ShopToken, "+49 151 12000200", map[string]any{"tags": map[string]any{"score": 1.5}}),
			tags: `{"plan":"silver","langs":["en","fr"],"city":"Berlin","vip":true,"score":1.5}`},
		{name: "registerDevice with null deletes too", method: "registerDevice", req: deviceReq(harness.ShopApp, harness.ShopToken, phone, map[string]any{"device_type": 18, "tags": map[string]any{"score": nil}}),
			tags: `{"plan":"silver","langs":["en","fr"],"city":"Berlin","vip":true}`},
		{name: "setTags without tags", method: "setTags", req: deviceReq(harness.ShopApp, harness.ShopToken, phone, nil), want210: "tags",
			tags: `{"plan":"silver","langs":["en","fr"],"city":"Berlin","vip":true}`},
		{name: "setTags with an object value", method: "setTags", req: deviceReq(harness.ShopApp, harness.ShopToken, phone, map[string]any{"tags": map[string]any{"plan": map[string]any{"x": 1}}}), want210: "tags.plan",
			tags: `{"plan":"silver","langs":["en","fr"],"city":"Berlin","vip":true}`},
		{name: "setTags with a list of numbers", method: "setTags", req: deviceReq(harness.ShopApp, harness.ShopToken, phone, map[string]any{"tags": map[string]any{"langs": []int{1, 2}}}), want210: "tags.langs",
			tags: `{"plan":"silver","langs":["en","fr"],"city":"Berlin","vip":true}`},
		{name: "setTags with a bad hwid", method: "setTags", req: deviceReq(harness.ShopApp, harness.ShopToken, "12345", map[string]any{"tags": map[string]any{"a": "b"}}), want210: "hwid"},
		{name: "setTags on an unregistered device", method: "setTags", req: deviceReq(harness.ShopApp, harness.ShopToken, unknown, map[string]any{"tags": map[string]any{"a": "b"}}), want210: "hwid"},
		{name: "getTags of an unregistered device", method: "getTags", req: deviceReq(harness.ShopApp, harness.ShopToken, unknown, nil), want210: "hwid"},
		{name: "unregisterDevice", method: "unregisterDevice", req: deviceReq(harness.ShopApp, harness.ShopToken, phone, nil)},
		{name: "getTags after unregisterDevice", method: "getTags", req: deviceReq(harness.ShopApp, harness.ShopToken, phone, nil), want210: "hwid"},
		{name: "setTags after unregisterDevice", method: "setTags", req: deviceReq(harness.ShopApp, harness.ShopToken, phone, map[string]any{"tags": map[string]any{"a": "b"}}), want210: "hwid"},
		{name: "unregisterDevice of an unknown device succeeds", method: "unregisterDevice", req: deviceReq(harness.ShopApp, harness.ShopToken, unknown, nil)},
		{name: "unregisterDevice with a bad hwid", method: "unregisterDevice", req: deviceReq(harness.ShopApp, harness.ShopToken, "not a phone", nil), want210: "hwid"},
		{name: "registering again starts without the old tags", method: "registerDevice", req: deviceReq(harness.ShopApp, harness.ShopToken, phone, map[string]any{"device_type": 18}),
			tags: `{}`},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			e.T = t
			r := e.Call(s.method, s.req, "")
			if s.want210 != "" {
				want210(t, s.method, r, s.want210)
			} else if r.HTTP != 200 || r.StatusCode != 200 {
				t.Fatalf("%s: HTTP %d status %d %q", s.method, r.HTTP, r.StatusCode, r.StatusMessage)
			}
			if s.tags != "" {
				if got, want := tagsOf(e, harness.ShopApp, harness.ShopToken, phone), jsonValue(t, s.tags); !reflect.DeepEqual(any(got), want) {
					t.Errorf("tags after %s: %v, want %v", s.name, got, want)
				}
			}
		})
	}
	e.T = t
	// The device set and user index follow unregistration.
	ctx := context.Background()
	if ok, _ := e.Client.SIsMember(ctx, e.DevicesKey(harness.ShopApp), unknown).Result(); ok {
		t.Errorf("unregistered-then-unknown %s is in the device set", unknown)
	}
}

func TestDeviceAuth(t *testing.T) {
	e := harness.New(t)
	ctx := context.Background()
	cases := []struct {
		name   string
		app    string
		auth   string // request.auth
		header string // Authorization
		http   int
		code   int    // status_code; default http
		field  string // for a 210
		// tokenless: an open application's call without a token, which may
		// register and tag but not read tags or unregister (401).
		tokenless bool
	}{
		{name: "server token in auth", app: harness.ShopApp, auth: harness.ShopToken, http: 200},
		{name: "server token in header", app: harness.ShopApp, header: "Token " + harness.ShopToken, http: 200},
		{name: "device token in header", app: harness.ShopApp, header: "Token " + harness.ShopDevice, http: 200},
		{name: "device token in auth", app: harness.ShopApp, auth: harness.ShopDevice, http: 200},
		{name: "device token, lower-case scheme", app: harness.ShopApp, header: "token " + harness.ShopDevice, http: 200},
		{name: "open application without token", app: harness.OpenApp, http: 200, tokenless: true},
		{name: "open application with its server token", app: harness.OpenApp, auth: harness.OpenToken, http: 200},
		{name: "no token", app: harness.ShopApp, http: 401},
		{name: "no token, application without device token", app: harness.BankApp, http: 401},
		{name: "wrong token", app: harness.ShopApp, auth: "wrong-token-123", http: 401},
		{name: "wrong token in header", app: harness.ShopApp, header: "Token wrong-token-123", http: 401},
		{name: "Bearer scheme is not a token", app: harness.ShopApp, header: "Bearer " + harness.ShopDevice, http: 401},
		{name: "wrong token on the open application", app: harness.OpenApp, auth: "wrong-token-123", http: 401},
		{name: "another application's server token", app: harness.ShopApp, auth: harness.BankToken, http: 403},
		{name: "another application's device token", app: harness.OpenApp, header: "Token " + harness.ShopDevice, http: 403},
		{name: "device token without application", auth: harness.ShopDevice, http: 200, code: 210, field: "application"},
		{name: "unknown application", app: "NOPE0-00000", auth: harness.ShopDevice, http: 200, code: 210, field: "application"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.T = t
			phone := harness.Phones(300+i, 1)[0]
			code := tc.code
			if code == 0 {
				code = tc.http
			}
			calls := []struct {
				method string
				fields map[string]any
			}{
				{"registerDevice", map[string]any{"device_type": 18, "tags": map[string]any{"step": "register"}}},
				{"setTags", map[string]any{"tags": map[string]any{"step": "set"}}},
				{"getTags", nil},
				{"unregisterDevice", nil},
			}
			for _, c := range calls {
				r := e.Call(c.method, deviceReq(tc.app, tc.auth, phone, c.fields), tc.header)
				if tc.tokenless && (c.method == "getTags" || c.method == "unregisterDevice") {
					if r.HTTP != 401 || r.StatusCode != 401 {
						t.Errorf("%s without token: HTTP %d status %d %q, want 401", c.method, r.HTTP, r.StatusCode, r.StatusMessage)
					}
					continue
				}
				if r.HTTP != tc.http || r.StatusCode != code {
					t.Errorf("%s: HTTP %d status %d %q, want HTTP %d status %d", c.method, r.HTTP, r.StatusCode, r.StatusMessage, tc.http, code)
					continue
				}
				if code == 210 && !strings.HasPrefix(r.StatusMessage, tc.field+": ") {
					t.Errorf("%s: status_message %q does not name %s", c.method, r.StatusMessage, tc.field)
				}
				if c.method == "getTags" && code == 200 {
					var resp struct{ Result map[string]any }
					if err := json.Unmarshal(r.Response, &resp); err != nil || resp.Result["step"] != "set" {
						t.Errorf("getTags: %s (%v), want the tag setTags set", r.Response, err)
					}
				}
			}
			if tc.tokenless {
				// Its unregisterDevice was refused: the server token removes it.
				e.MustOK("unregisterDevice", deviceReq(tc.app, harness.OpenToken, phone, nil))
			}
			// Whatever the answer, nothing of the device is left: the accepted
			// sequence ends unregistered, a refused one never registered.
			for _, app := range []string{harness.ShopApp, harness.BankApp, harness.OpenApp, "NOPE0-00000"} {
				if n, _ := e.Client.Exists(ctx, e.DeviceKey(app, phone)).Result(); n != 0 {
					t.Errorf("device %s left in %s", phone, app)
				}
			}
		})
	}
	e.T = t
	// Refused registrations never stored a device anywhere.
	for _, app := range []string{harness.ShopApp, harness.BankApp, harness.OpenApp} {
		if n, _ := e.Client.SCard(ctx, e.DevicesKey(app)).Result(); n != 0 {
			t.Errorf("%s has %d devices after the auth cases, want 0", app, n)
		}
	}
}

func TestIsolationDevices(t *testing.T) {
	e := harness.New(t)
	shared := harness.Phones(400, 1)[0]
	e.MustOK("registerDevice", deviceReq(harness.ShopApp, harness.ShopToken, shared, map[string]any{"device_type": 18, "tags": map[string]any{"owner": "shop"}}))

	cases := []struct {
		name, method string
		req          map[string]any
		header       string
		http, code   int
		field        string
	}{
		{name: "getTags in bankApp", method: "getTags", req: deviceReq(harness.BankApp, harness.BankToken, shared, nil), http: 200, code: 210, field: "hwid"},
		{name: "setTags in bankApp", method: "setTags", req: deviceReq(harness.BankApp, harness.BankToken, shared, map[string]any{"tags": map[string]any{"owner": "bank"}}), http: 200, code: 210, field: "hwid"},
		{name: "getTags in openApp with its server token", method: "getTags", req: deviceReq(harness.OpenApp, harness.OpenToken, shared, nil), http: 200, code: 210, field: "hwid"},
		{name: "shopApp's device with bankToken", method: "getTags", req: deviceReq(harness.ShopApp, harness.BankToken, shared, nil), http: 403, code: 403},
		{name: "bankToken naming no application", method: "getTags", req: deviceReq("", harness.BankToken, shared, nil), http: 200, code: 210, field: "application"},
		{name: "unregister in bankApp leaves shopApp's", method: "unregisterDevice", req: deviceReq(harness.BankApp, harness.BankToken, shared, nil), http: 200, code: 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.T = t
			r := e.Call(tc.method, tc.req, tc.header)
			if r.HTTP != tc.http || r.StatusCode != tc.code {
				t.Errorf("%s: HTTP %d status %d %q, want %d/%d", tc.method, r.HTTP, r.StatusCode, r.StatusMessage, tc.http, tc.code)
			}
			if tc.code == 210 && !strings.HasPrefix(r.StatusMessage, tc.field+": ") {
				t.Errorf("%s: status_message %q does not name %s", tc.method, r.StatusMessage, tc.field)
			}
			if got := tagsOf(e, harness.ShopApp, harness.ShopToken, shared); !reflect.DeepEqual(got, map[string]any{"owner": "shop"}) {
				t.Errorf("shopApp's device after %s: tags %v", tc.name, got)
			}
		})
	}
	e.T = t

	// The same phone in bankApp is a device of its own.
	e.MustOK("registerDevice", deviceReq(harness.BankApp, harness.BankToken, shared, map[string]any{"device_type": 18, "tags": map[string]any{"owner": "bank"}}))
	if got := tagsOf(e, harness.BankApp, harness.BankToken, shared); !reflect.DeepEqual(got, map[string]any{"owner": "bank"}) {
		t.Errorf("bankApp's device: tags %v", got)
	}
	if got := tagsOf(e, harness.ShopApp, harness.ShopToken, shared); !reflect.DeepEqual(got, map[string]any{"owner": "shop"}) {
		t.Errorf("shopApp's device after bankApp registered the phone: tags %v", got)
	}
	e.MustOK("unregisterDevice", deviceReq(harness.BankApp, harness.BankToken, shared, nil))
	if got := tagsOf(e, harness.ShopApp, harness.ShopToken, shared); !reflect.DeepEqual(got, map[string]any{"owner": "shop"}) {
		t.Errorf("shopApp's device after bankApp unregistered the phone: tags %v", got)
	}
}

func TestIsolationMessages(t *testing.T) {
	e := harness.New(t)
	to := harness.Phones(500, 1)[0]
	e.Register(harness.ShopApp, harness.ShopToken, to)
	code := e.Send(map[string]any{"send_date": later, "content": "later", "devices": []string{to, harness.Phones(501, 1)[0]}, "use_auto_registration": true})
	statsRaw := e.MustOK("getMsgStats", map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken, "message": code})
	var stats struct {
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal(statsRaw, &stats); err != nil || stats.RequestID == "" {
		t.Fatalf("getMsgStats: %s (%v)", statsRaw, err)
	}

	calls := []struct {
		name, method string
		req          map[string]any
		http, code   int
		field        string
	}{
		{name: "getMsgStats in bankApp", method: "getMsgStats", req: map[string]any{"application": harness.BankApp, "auth": harness.BankToken, "message": code}, http: 200, code: 210, field: "message"},
		{name: "getMsgStats with bankToken only", method: "getMsgStats", req: map[string]any{"auth": harness.BankToken, "message": code}, http: 200, code: 210, field: "message"},
		{name: "getMsgStats of shopApp with bankToken", method: "getMsgStats", req: map[string]any{"application": harness.ShopApp, "auth": harness.BankToken, "message": code}, http: 403, code: 403},
		{name: "deleteMessage in bankApp", method: "deleteMessage", req: map[string]any{"application": harness.BankApp, "auth": harness.BankToken, "message": code}, http: 200, code: 210, field: "message"},
		{name: "getResults of shopApp's request in bankApp", method: "getResults", req: map[string]any{"application": harness.BankApp, "auth": harness.BankToken, "request_id": stats.RequestID}, http: 200, code: 210, field: "request_id"},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			e.T = t
			r := e.Call(c.method, c.req, "")
			if r.HTTP != c.http || r.StatusCode != c.code {
				t.Errorf("%s: HTTP %d status %d %q, want %d/%d", c.method, r.HTTP, r.StatusCode, r.StatusMessage, c.http, c.code)
			}
			if c.code == 210 && !strings.HasPrefix(r.StatusMessage, c.field+": ") {
				t.Errorf("%s: status_message %q does not name %s", c.method, r.StatusMessage, c.field)
			}
		})
	}
	e.T = t

	t.Run("native", func(t *testing.T) { isolationNative(t, e, code) })
	e.T = t

	// None of bankApp's attempts touched the message.
	v := e.Message(code)
	if v.Message.Canceled || v.Message.Recipients != 2 || !harness.CountsEqual(v.Message.Counts, map[string]int64{"scheduled": 2}) {
		t.Errorf("shopApp's message after bankApp's attempts: canceled %v, recipients %d, counts %v", v.Message.Canceled, v.Message.Recipients, harness.NonZero(v.Message.Counts))
	}
	if raw := e.MustOK("getResults", map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken, "request_id": stats.RequestID}); !strings.Contains(string(raw), code) {
		t.Errorf("getResults of shopApp's own request: %s", raw)
	}

	// A transactionId is the application's own: the same id in two
	// applications is two messages.
	t.Run("transactionId", func(t *testing.T) { isolationTransactionID(t, e, to) })
	e.T = t
}

// isolationNative checks that bankApp's token neither reads shopApp's
// message code nor lists it, while shopApp's lists it.
func isolationNative(t *testing.T, e *harness.Env, code string) {
	e.T = t
	var v harness.MessageView
	if st := e.Native("/api/v1/messages/"+code, harness.BankToken, &v); st != 404 {
		t.Errorf("GET shopApp's message with bankToken: HTTP %d, want 404 (%+v)", st, v)
	}
	var list struct {
		Messages []struct{ Code string }
	}
	if st := e.Native("/api/v1/messages", harness.BankToken, &list); st != 200 || len(list.Messages) != 0 {
		t.Errorf("bankApp's message list: HTTP %d, %d messages, want 200 and none", st, len(list.Messages))
	}
	if st := e.Native("/api/v1/messages", harness.ShopToken, &list); st != 200 || len(list.Messages) != 1 || list.Messages[0].Code != code {
		t.Errorf("shopApp's message list: HTTP %d, %+v, want its one message", st, list.Messages)
	}
}

// isolationTransactionID checks that the same transactionId in shopApp
// and bankApp makes two messages, and that shopApp's retry gets its own.
func isolationTransactionID(t *testing.T, e *harness.Env, to string) {
	e.T = t
	n := map[string]any{"send_date": later, "content": "txn", "devices": []string{to}, "transactionId": "order-1"}
	shopCode := e.Send(n)
	e.Register(harness.BankApp, harness.BankToken, to)
	raw := e.MustOK("createMessage", map[string]any{"application": harness.BankApp, "auth": harness.BankToken, "notifications": []any{n}})
	var resp struct{ Messages []string }
	if err := json.Unmarshal(raw, &resp); err != nil || len(resp.Messages) != 1 {
		t.Fatalf("bankApp createMessage: %s (%v)", raw, err)
	}
	if resp.Messages[0] == shopCode {
		t.Fatalf("bankApp's transactionId order-1 returned shopApp's message %s", shopCode)
	}
	var v harness.MessageView
	if st := e.Native("/api/v1/messages/"+resp.Messages[0], harness.BankToken, &v); st != 200 || v.Message.Recipients != 1 {
		t.Errorf("bankApp's own message: HTTP %d, %+v", st, v.Message)
	}
	if again := e.Send(n); again != shopCode {
		t.Errorf("shopApp's retried transactionId gave %s, want %s", again, shopCode)
	}
}

// sentTo reports how many SMS the simulator received for phone.
func sentTo(e *harness.Env, phone string) int { return len(e.Sim.Messages(phone, 100)) }

func TestDeviceAudience(t *testing.T) {
	e := harness.New(t)
	alice := harness.Phones(600, 2)
	bob := harness.Phones(610, 1)[0]
	bankAlice := harness.Phones(620, 1)[0]
	moved := harness.Phones(630, 1)[0]
	for _, p := range alice {
		e.MustOK("registerDevice", deviceReq(harness.ShopApp, harness.ShopToken, p, map[string]any{"device_type": 18, "userId": "alice"}))
	}
	e.MustOK("registerDevice", deviceReq(harness.ShopApp, harness.ShopToken, bob, map[string]any{"device_type": 18, "userId": "bob"}))
	// Registered for alice, then moved to bob: no longer alice's.
	e.MustOK("registerDevice", deviceReq(harness.ShopApp, harness.ShopToken, moved, map[string]any{"device_type": 18, "userId": "alice"}))
	e.MustOK("registerDevice", deviceReq(harness.ShopApp, harness.ShopToken, moved, map[string]any{"device_type": 18, "userId": "bob"}))
	// Another application's alice is not shopApp's alice.
	e.MustOK("registerDevice", deviceReq(harness.BankApp, harness.BankToken, bankAlice, map[string]any{"device_type": 18, "userId": "alice"}))
	bankOnly := harness.Phones(640, 1)[0]
	e.Register(harness.BankApp, harness.BankToken, bankOnly)

	type sendCase struct {
		name         string
		notification map[string]any
		sent         []string // phones that must receive it
		unknown      []string // UnknownDevices of the message
		notSent      []string // phones that must not receive it
	}
	fresh := harness.Phones(650, 2)
	cases := []sendCase{
		{
			name:         "users resolve to their phones",
			notification: map[string]any{"users": []string{"alice"}},
			sent:         alice, notSent: []string{bob, moved, bankAlice},
		},
		{
			name:         "users and devices together, deduplicated",
			notification: map[string]any{"users": []string{"bob", "nobody"}, "devices": []string{bob, "+49 151 12000600"}},
			sent:         []string{bob, moved, alice[0]}, notSent: []string{alice[1], bankAlice},
		},
		{
			name:         "devices as one string",
			notification: map[string]any{"devices": "+49 151 1200 0610"},
			sent:         []string{bob}, notSent: []string{moved},
		},
		{
			name:         "null users is no users",
			notification: map[string]any{"devices": []string{alice[0]}, "users": nil},
			sent:         []string{alice[0]}, notSent: []string{alice[1]},
		},
		{
			name:         "null devices is no devices",
			notification: map[string]any{"devices": nil, "users": []string{"alice"}},
			sent:         alice, notSent: []string{bob, moved},
		},
		{
			name:         "an unregistered device is reported and skipped",
			notification: map[string]any{"devices": []string{alice[0], fresh[0], bankOnly}},
			sent:         []string{alice[0]}, unknown: []string{fresh[0], bankOnly}, notSent: []string{fresh[0], bankOnly},
		},
		{
			name:         "use_auto_registration registers and sends",
			notification: map[string]any{"devices": []string{alice[1], fresh[1]}, "use_auto_registration": true},
			sent:         []string{alice[1], fresh[1]},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.T = t
			before := map[string]int{}
			for _, p := range append(append([]string{}, tc.sent...), tc.notSent...) {
				before[p] = sentTo(e, p)
			}
			n := map[string]any{"send_date": "now", "content": "audience: " + tc.name}
			for k, v := range tc.notification {
				n[k] = v
			}
			raw := e.MustOK("createMessage", map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken, "notifications": []any{n}})
			var resp struct {
				Messages       []string
				UnknownDevices map[string][]string
			}
			if err := json.Unmarshal(raw, &resp); err != nil || len(resp.Messages) != 1 {
				t.Fatalf("createMessage: %s (%v)", raw, err)
			}
			code := resp.Messages[0]
			var wantUnknown map[string][]string
			if tc.unknown != nil {
				wantUnknown = map[string][]string{code: tc.unknown}
			}
			if !reflect.DeepEqual(resp.UnknownDevices, wantUnknown) {
				t.Errorf("UnknownDevices %v, want %v (response %s)", resp.UnknownDevices, wantUnknown, raw)
			}
			v := e.WaitCounts(code, map[string]int64{"sent": int64(len(tc.sent))}, 10*time.Second)
			if v.Message.Recipients != len(tc.sent) {
				t.Errorf("message has %d recipients, want %d", v.Message.Recipients, len(tc.sent))
			}
			var to []string
			for _, r := range v.Recipients {
				to = append(to, r.To)
			}
			sort.Strings(to)
			want := append([]string{}, tc.sent...)
			sort.Strings(want)
			if !reflect.DeepEqual(to, want) {
				t.Errorf("recipients %v, want %v", to, want)
			}
			for _, p := range tc.sent {
				if got := sentTo(e, p); got != before[p]+1 {
					t.Errorf("%s received %d SMS, want %d", p, got, before[p]+1)
				}
			}
			for _, p := range tc.notSent {
				if got := sentTo(e, p); got != before[p] {
					t.Errorf("%s received an SMS it must not (%d, was %d)", p, got, before[p])
				}
			}
		})
	}
	e.T = t

	// Auto-registration made fresh[1] a device of shopApp (and only of it);
	// the skipped fresh[0] stayed unknown.
	if got := tagsOf(e, harness.ShopApp, harness.ShopToken, fresh[1]); len(got) != 0 {
		t.Errorf("auto-registered device has tags %v", got)
	}
	want210(t, "getTags of the auto-registered phone in bankApp", e.Call("getTags", deviceReq(harness.BankApp, harness.BankToken, fresh[1], nil), ""), "hwid")
	want210(t, "getTags of the skipped unknown phone", e.Call("getTags", deviceReq(harness.ShopApp, harness.ShopToken, fresh[0], nil), ""), "hwid")
}
