package intake

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/smsfleet/smsfleet/internal/metrics"
)

// Phones of the user-binding tests.
const (
	victim   = "+4915112000501" // alice's phone, bound by the server
	bobPhone = "+4915112000502" // bob's phone, bound by the server
	attacker = "+4915112000503" // a new phone someone wants under alice
)

// TestUserBindingNeedsTheServerToken (issue 13 item 1): a registerDevice
// that would bind a phone to a user id, or move it to another, is refused
// with a device token (403) or without a token on an open application
// (401), naming userId and writing nothing, so createMessage to users
// ["alice"] still reaches only alice's phone. Registering with no userId,
// or with the one the phone already has, keeps working with either;
// the server token, or the application's legacy_user_binding, may bind.
func TestUserBindingNeedsTheServerToken(t *testing.T) {
	e := newDevEnv(t, nil)
	ctx := context.Background()
	// The server binds alice's and bob's phones in every application.
	servers := map[string]string{shop: shopToken, open: openToken, legacy: legacyToken, legacyOpen: legacyOToken}
	for app, tok := range servers {
		e.mustOK(t, "registerDevice", "", devReq(app, tok, victim, map[string]any{"device_type": 18, "userId": "alice"}))
		e.mustOK(t, "registerDevice", "", devReq(app, tok, bobPhone, map[string]any{"device_type": 18, "userId": "bob"}))
	}
	reg := func(app, auth, hwid string, fields map[string]any) map[string]any {
		f := map[string]any{"device_type": 18}
		for k, v := range fields {
			f[k] = v
		}
		return devReq(app, auth, hwid, f)
	}
	cases := []struct {
		name   string
		header string // Authorization
		req    map[string]any
		http   int // 200: accepted
		// users: for an accepted call, the phones of each user afterwards.
		users map[string][]string
	}{
		// Refused: binding a new phone to someone's user id.
		{name: "device token binds a new phone to alice", req: reg(shop, shopDev, attacker, map[string]any{"userId": "alice"}), http: 403},
		{name: "device token in the header binds a new phone", header: "Token " + shopDev, req: reg(shop, "", attacker, map[string]any{"userId": "alice"}), http: 403},
		{name: "no token on an open application binds a new phone", req: reg(open, "", attacker, map[string]any{"userId": "alice"}), http: 401},
		{name: "device token binds a phone to another phone's default user", req: reg(shop, shopDev, attacker, map[string]any{"userId": "+4915112000777"}), http: 403},
		// Refused: moving a bound phone to another user.
		{name: "device token moves bob's phone to alice", req: reg(shop, shopDev, bobPhone, map[string]any{"userId": "alice"}), http: 403},
		{name: "no token moves bob's phone to alice", req: reg(open, "", bobPhone, map[string]any{"userId": "alice"}), http: 401},
		{name: "device token moves bob's phone to its own number", req: reg(shop, shopDev, bobPhone, map[string]any{"userId": bobPhone}), http: 403},
		{name: "refused with tags and language too", req: reg(shop, shopDev, bobPhone, map[string]any{"userId": "alice", "language": "de", "tags": map[string]any{"City": "Berlin"}}), http: 403},
		// Accepted: no binding.
		{name: "device token registers a new phone without userId", req: reg(shop, shopDev, attacker, nil), http: 200,
			users: map[string][]string{"alice": {victim}, attacker: {attacker}}},
		{name: "device token registers with the userId it already has", req: reg(shop, shopDev, bobPhone, map[string]any{"userId": "bob", "tags": map[string]any{"City": "Paris"}}), http: 200,
			users: map[string][]string{"bob": {bobPhone}}},
		{name: "device token re-registers without userId: the user stays", req: reg(shop, shopDev, bobPhone, map[string]any{"language": "fr"}), http: 200,
			users: map[string][]string{"bob": {bobPhone}}},
		{name: "device token registers a new phone under its own number (the default)", req: reg(shop, shopDev, "+4915112000504", map[string]any{"userId": "+4915112000504"}), http: 200,
			users: map[string][]string{"+4915112000504": {"+4915112000504"}}},
		{name: "no token re-registers bob with bob", req: reg(open, "", bobPhone, map[string]any{"userId": "bob"}), http: 200,
			users: map[string][]string{"bob": {bobPhone}}},
		{name: "no token registers a new phone without userId", req: reg(open, "", attacker, nil), http: 200,
			users: map[string][]string{"alice": {victim}}},
		// Accepted: the server token, and legacy_user_binding.
		{name: "server token binds a phone", req: reg(shop, shopToken, "+4915112000505", map[string]any{"userId": "carol"}), http: 200,
			users: map[string][]string{"carol": {"+4915112000505"}}},
		{name: "server token in the header moves a phone", header: "Token " + shopToken, req: reg(shop, "", "+4915112000505", map[string]any{"userId": "dave"}), http: 200,
			users: map[string][]string{"carol": nil, "dave": {"+4915112000505"}}},
		{name: "legacy_user_binding: device token binds", req: reg(legacy, legacyDev, attacker, map[string]any{"userId": "alice"}), http: 200,
			users: map[string][]string{"alice": {victim, attacker}}},
		{name: "legacy_user_binding: no token moves", req: reg(legacyOpen, "", bobPhone, map[string]any{"userId": "alice"}), http: 200,
			users: map[string][]string{"alice": {victim, bobPhone}, "bob": nil}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			app := tc.req["application"].(string)
			before := e.keyspace(t)
			got := e.call(t, "registerDevice", tc.header, tc.req)
			if tc.http != 200 {
				if got.HTTP != tc.http || got.Code != tc.http || !strings.HasPrefix(got.Message, "userId: ") {
					t.Fatalf("HTTP %d status %d %q, want %d naming userId", got.HTTP, got.Code, got.Message, tc.http)
				}
				sameKeyspace(t, before, e.keyspace(t))
				// What createMessage's users: ["alice"] resolves to.
				for _, u := range []string{"alice", "bob"} {
					phones, err := e.api.Store.PhonesOfUsers(ctx, app, []string{u})
					want := map[string]string{"alice": victim, "bob": bobPhone}[u]
					if err != nil || len(phones[0]) != 1 || phones[0][0] != want {
						t.Fatalf("%s's phones: %v %v, want only %s", u, phones, err, want)
					}
				}
				return
			}
			if got.HTTP != 200 || got.Code != 200 {
				t.Fatalf("HTTP %d status %d %q, want 200", got.HTTP, got.Code, got.Message)
			}
			for u, want := range tc.users {
				phones, err := e.api.Store.PhonesOfUsers(ctx, app, []string{u})
				if err != nil {
					t.Fatal(err)
				}
				if len(phones[0]) == 0 && len(want) == 0 {
					continue
				}
				if !reflect.DeepEqual(phones[0], want) {
					t.Errorf("%s's phones: %v, want %v", u, phones[0], want)
				}
			}
		})
	}
}

// refusedCount is the refusal counter of app.
func refusedCount(t *testing.T, app string) float64 {
	t.Helper()
	var m dto.Metric
	if err := metrics.DeviceBindingRefused.WithLabelValues(app).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestUserBindingRefusalsAreCountedAndLogged: every refusal counts in
// smsfleet_device_binding_refused_total{app}; the warnings are
// rate-limited (10 at once, then one a second, saying how many were left
// out) and carry the application and the masked phone, never the token,
// the user id or the full number. Accepted registrations count nothing.
func TestUserBindingRefusalsAreCountedAndLogged(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	e := newDevEnv(t, zap.New(core))
	e.mustOK(t, "registerDevice", "", devReq(shop, shopToken, victim, map[string]any{"device_type": 18, "userId": "alice"}))
	shop0, open0 := refusedCount(t, shop), refusedCount(t, open)

	const tries = 25
	for range tries {
		if got := e.call(t, "registerDevice", "", devReq(shop, shopDev, attacker, map[string]any{"device_type": 18, "userId": "alice"})); got.HTTP != 403 {
			t.Fatalf("HTTP %d %q, want 403", got.HTTP, got.Message)
		}
	}
	e.mustOK(t, "registerDevice", "", devReq(shop, shopDev, attacker, map[string]any{"device_type": 18}))
	if got := refusedCount(t, shop) - shop0; got != tries {
		t.Fatalf("shop refusals counted %v, want %d", got, tries)
	}
	if got := refusedCount(t, open) - open0; got != 0 {
		t.Fatalf("open refusals counted %v, want 0", got)
	}
	lines := logs.FilterMessageSnippet("refused").All()
	if len(lines) != refusalBurst {
		t.Fatalf("%d refusal lines at one instant, want the burst of %d", len(lines), refusalBurst)
	}
	// A second later one more line passes, counting those left out.
	e.advance(refusalEvery)
	if got := e.call(t, "registerDevice", "", devReq(open, "", attacker, map[string]any{"device_type": 18, "userId": "alice"})); got.HTTP != 401 {
		t.Fatalf("HTTP %d %q, want 401", got.HTTP, got.Message)
	}
	if got := refusedCount(t, open) - open0; got != 1 {
		t.Fatalf("open refusals counted %v, want 1", got)
	}
	lines = logs.FilterMessageSnippet("refused").All()
	if len(lines) != refusalBurst+1 {
		t.Fatalf("%d refusal lines, want %d", len(lines), refusalBurst+1)
	}
	last := lines[len(lines)-1].ContextMap()
	if last["suppressed"] != int64(tries-refusalBurst) || last["application"] != open || last["caller"] != "no token" {
		t.Fatalf("last line %v, want suppressed=%d application=%s caller=no token", last, tries-refusalBurst, open)
	}
	for _, l := range lines {
		if l.Level != zapcore.WarnLevel {
			t.Errorf("refusal logged at %s, want warn", l.Level)
		}
		text := l.Message
		for k, v := range l.ContextMap() {
			text += fmt.Sprintf(" %s=%v", k, v)
		}
		for _, secret := range []string{shopDev, shopToken, "alice", attacker} {
			if strings.Contains(text, secret) {
				t.Errorf("refusal line %q holds %q", text, secret)
			}
		}
		if !strings.Contains(text, "phone=+4915*******03") {
			t.Errorf("refusal line %q lacks the masked phone", text)
		}
	}
}
