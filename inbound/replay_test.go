package inbound

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/signature"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// TestReplayedStartAfterStopChangesNothing (issue 13 item 5): a phone
// sends STOP, START, STOP; an attacker who captured the signed START
// posts it again, byte for byte. Through the webhook handler, on a real
// Redis, the replay is answered but the phone stays opted out, for a
// Twilio-style provider (deduplicated by MessageSid: Twilio signs no
// timestamp), a simulator and a JSON provider (Standard Webhooks:
// deduplicated by webhook-id within the 5 minutes, refused by its
// timestamp after, on the injected clock).
func TestReplayedStartAfterStopChangesNothing(t *testing.T) {
	r := testenv.NewRedis(t)
	st := store.New(r.Client(t), 24*time.Hour)
	var clock atomic.Int64
	clock.Store(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC).UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	public := "https://sms.example.com"
	newTestInbound(testOpts{
		Sources: []provider.Source{
			{Name: "tw", Kind: provider.KindTwilio, Secret: "tw-token", PublicURL: public},
			{Name: "sim", Kind: provider.KindSimulator, Secret: "sim-secret"},
			{Name: "gw", Kind: provider.KindJSON, Secret: "gw-secret"},
		},
		OptOuts: st, StopWords: []string{"STOP"}, StartWords: []string{"START"},
		Apps: func(string) []string { return []string{"SHOP1-00001"} }, DefaultRegion: "DE", Log: zap.NewNop(),
		Replays: st, Now: now,
	}).Register(mux)
	srv.Start()
	defer srv.Close()

	// captured is a request as it crossed the network, to be sent again.
	type captured struct {
		path   string
		header http.Header
		body   []byte
	}
	send := func(c captured) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+c.path, bytes.NewReader(c.body))
		req.Header = c.header.Clone()
		code, body := do(t, req)
		if code >= 300 && code != http.StatusUnauthorized {
			t.Fatalf("HTTP %d %s", code, body)
		}
		return code
	}
	seq := 0
	twilio := func(phone, text string) captured {
		seq++
		f := url.Values{"MessageSid": {"SMreply" + string(rune('a'+seq))}, "From": {phone}, "To": {"SHOP"}, "Body": {text}}
		h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
		h.Set("X-Twilio-Signature", provider.TwilioSignature("tw-token", public+"/webhooks/inbound/tw", f))
		return captured{"/webhooks/inbound/tw", h, []byte(f.Encode())}
	}
	standard := func(name, secret string) func(phone, text string) captured {
		return func(phone, text string) captured {
			seq++
			body := []byte(`{"from":"` + phone + `","to":"SHOP","text":"` + text + `"}`)
			h := http.Header{"Content-Type": {"application/json"}}
			if err := signature.SetStandard(h, secret, "msg_"+string(rune('a'+seq)), now(), body); err != nil {
				t.Fatal(err)
			}
			return captured{"/webhooks/inbound/" + name, h, body}
		}
	}
	optedOut := func(phone string) bool { return isOptedOut(t, st, "SHOP1-00001", phone) }

	for i, tc := range []struct {
		name  string
		reply func(phone, text string) captured
	}{
		{"twilio", twilio},
		{"simulator", standard("sim", "sim-secret")},
		{"json", standard("gw", "gw-secret")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			phone := "+49151120001" + string(rune('0'+i)) + "0"
			for _, text := range []string{"STOP"} {
				if send(tc.reply(phone, text)) >= 300 {
					t.Fatal("first STOP refused")
				}
			}
			start := tc.reply(phone, "START")
			if code := send(start); code >= 300 || optedOut(phone) {
				t.Fatalf("START: HTTP %d, opted out %v", code, optedOut(phone))
			}
			clock.Add(int64(time.Minute))
			if code := send(tc.reply(phone, "STOP")); code >= 300 || !optedOut(phone) {
				t.Fatalf("second STOP: HTTP %d, opted out %v", code, optedOut(phone))
			}
			// The replay, a minute later: within the timestamp's window,
			// so its id is what refuses it.
			clock.Add(int64(time.Minute))
			if code := send(start); code >= 300 {
				t.Fatalf("replayed START: HTTP %d, want it answered like a retry", code)
			}
			if !optedOut(phone) {
				t.Fatal("a replayed START opted the phone back in")
			}
			// An hour later the Standard Webhooks id may be forgotten, but
			// the timestamp is stale; Twilio's sid is still remembered.
			clock.Add(int64(time.Hour))
			code := send(start)
			if tc.name != "twilio" && code != http.StatusUnauthorized {
				t.Fatalf("START replayed an hour later: HTTP %d, want 401", code)
			}
			if !optedOut(phone) {
				t.Fatal("a START replayed an hour later opted the phone back in")
			}
			// A new START from the phone still works.
			if code := send(tc.reply(phone, "START")); code >= 300 || optedOut(phone) {
				t.Fatalf("a new START: HTTP %d, opted out %v", code, optedOut(phone))
			}
		})
	}
}

// TestReplyIDUncheckedIs503: with Redis unreachable a verified reply is
// answered 503 (the provider retries), never applied unchecked.
func TestReplyIDUncheckedIs503(t *testing.T) {
	r := testenv.NewRedis(t)
	st := store.New(r.Client(t), time.Hour)
	r.Stop()
	mux := http.NewServeMux()
	newTestInbound(testOpts{
		Sources: []provider.Source{{Name: "gw", Kind: provider.KindJSON, Secret: "gw-secret"}},
		OptOuts: st, StopWords: []string{"STOP"}, StartWords: []string{"START"},
		Apps: func(string) []string { return []string{"SHOP1-00001"} }, DefaultRegion: "DE", Log: zap.NewNop(), Replays: st,
	}).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	body := `{"from":"+4915112000001","to":"SHOP","text":"STOP"}`
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/inbound/gw", strings.NewReader(body))
	signJSON(req.Header, "gw-secret", body)
	if code, b := do(t, req); code != http.StatusServiceUnavailable {
		t.Fatalf("HTTP %d %s, want 503", code, b)
	}
	// Built without a store of ids it refuses too, rather than take
	// replays.
	mux = http.NewServeMux()
	newTestInbound(testOpts{
		Sources: []provider.Source{{Name: "gw", Kind: provider.KindJSON, Secret: "gw-secret"}},
		OptOuts: st, StopWords: []string{"STOP"}, StartWords: []string{"START"},
		Apps: func(string) []string { return []string{"SHOP1-00001"} }, DefaultRegion: "DE", Log: zap.NewNop(),
	}).Register(mux)
	srv2 := httptest.NewServer(mux)
	defer srv2.Close()
	req, _ = http.NewRequest(http.MethodPost, srv2.URL+"/webhooks/inbound/gw", strings.NewReader(body))
	signJSON(req.Header, "gw-secret", body)
	if code, b := do(t, req); code != http.StatusServiceUnavailable {
		t.Fatalf("without Replays: HTTP %d %s, want 503", code, b)
	}
}
