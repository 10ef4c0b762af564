package provider_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/signature"
	"github.com/smsfleet/smsfleet/internal/sms"
)

// at is the injected clock of these tests.
var at = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// standardRequest is a webhook to path with Standard Webhooks headers
// under secret, sent as id at ts.
func standardRequest(path, ct, body, secret, id string, ts time.Time) *http.Request {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Content-Type", ct)
	if err := signature.SetStandard(r.Header, secret, id, ts, []byte(body)); err != nil {
		panic(err)
	}
	return r
}

func status(err error) int {
	var we *provider.WebhookError
	if errors.As(err, &we) {
		return we.Status
	}
	return 0
}

// TestStandardWebhooksReplayAndStaleness: json and simulator webhooks are
// taken only with a Standard Webhooks signature whose timestamp is within
// 5 minutes of the (injected) clock, and each returns its webhook-id as the
// replay id the handler must claim. The legacy X-Signature, which signs no
// timestamp, is refused unless the provider opted in.
func TestStandardWebhooksReplayAndStaleness(t *testing.T) {
	const secret = "a-real-secret-of-this-provider"
	receiptBody := `{"ref":"SM1","status":"delivered"}`
	replyBody := `{"from":"+4915112000001","to":"SHOP","text":"START"}`
	simReceipt := url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"delivered"}}.Encode()
	type parse func(src provider.Source, r *http.Request, body string, now time.Time) (provider.Replay, error)
	jsonRec := func(src provider.Source, r *http.Request, body string, now time.Time) (provider.Replay, error) {
		_, rp, err := src.Webhooks().ParseReceipt(src, r, []byte(body), now)
		return rp, err
	}
	jsonRep := func(src provider.Source, r *http.Request, body string, now time.Time) (provider.Replay, error) {
		_, rp, err := src.Webhooks().ParseReply(src, r, []byte(body), now)
		return rp, err
	}
	for _, kind := range []struct {
		name  string
		kind  provider.KindName
		ct    string
		body  string
		parse parse
	}{
		{"json receipt", provider.KindJSON, "application/json", receiptBody, jsonRec},
		{"json reply", provider.KindJSON, "application/json", replyBody, jsonRep},
		{"simulator receipt", provider.KindSimulator, "application/x-www-form-urlencoded", simReceipt, jsonRec},
		{"simulator reply", provider.KindSimulator, "application/json", replyBody, jsonRep},
	} {
		src := provider.Source{Name: "p", Kind: kind.kind, Secret: secret}
		tests := []struct {
			name   string
			req    func() *http.Request
			now    time.Time
			status int
		}{
			{"fresh", func() *http.Request { return standardRequest("/", kind.ct, kind.body, secret, "msg_1", at) }, at, 0},
			{"4 minutes old", func() *http.Request { return standardRequest("/", kind.ct, kind.body, secret, "msg_1", at) }, at.Add(4 * time.Minute), 0},
			{"6 minutes old (replayed later)", func() *http.Request { return standardRequest("/", kind.ct, kind.body, secret, "msg_1", at) }, at.Add(6 * time.Minute), 401},
			{"6 minutes ahead", func() *http.Request { return standardRequest("/", kind.ct, kind.body, secret, "msg_1", at) }, at.Add(-6 * time.Minute), 401},
			{"signed with simulator-token", func() *http.Request {
				return standardRequest("/", kind.ct, kind.body, provider.SimulatorAuthToken, "msg_1", at)
			}, at, 401},
			{"legacy X-Signature (replayable) not opted in", func() *http.Request {
				r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(kind.body))
				r.Header.Set("X-Signature", signature.Sign(secret, []byte(kind.body)))
				return r
			}, at, 401},
			{"unsigned", func() *http.Request { return httptest.NewRequest(http.MethodPost, "/", strings.NewReader(kind.body)) }, at, 401},
		}
		for _, tt := range tests {
			t.Run(kind.name+"/"+tt.name, func(t *testing.T) {
				rp, err := kind.parse(src, tt.req(), kind.body, tt.now)
				if status(err) != tt.status || (tt.status == 0 && err != nil) {
					t.Fatalf("err %v (HTTP %d), want HTTP %d", err, status(err), tt.status)
				}
				if err == nil && (rp.ID != "swh:msg_1" || rp.TTL < 2*signature.Tolerance) {
					t.Fatalf("replay %+v, want id swh:msg_1 kept over the tolerance window", rp)
				}
			})
		}
	}

	t.Run("json legacy_signature opt-in", func(t *testing.T) {
		src := provider.Source{Name: "gw", Kind: provider.KindJSON, Secret: secret, LegacySignature: true}
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(receiptBody))
		r.Header.Set("X-Signature", signature.Sign(secret, []byte(receiptBody)))
		rec, rp, err := src.Webhooks().ParseReceipt(src, r, []byte(receiptBody), at)
		if err != nil || rec.Ref != "SM1" || rp.ID != "" {
			t.Fatalf("legacy receipt: %+v %+v %v", rec, rp, err)
		}
		// A Standard Webhooks signature still takes precedence (and its id).
		r = standardRequest("/", "application/json", receiptBody, secret, "msg_2", at)
		if _, rp, err := src.Webhooks().ParseReceipt(src, r, []byte(receiptBody), at); err != nil || rp.ID != "swh:msg_2" {
			t.Fatalf("standard receipt on a legacy provider: %+v %v", rp, err)
		}
		r.Header.Set("X-Signature", "sha256=00")
		r.Header.Set(signature.HeaderSignature, "v1,AAAA")
		if _, _, err := src.Webhooks().ParseReceipt(src, r, []byte(receiptBody), at); status(err) != 401 {
			t.Fatalf("a bad Standard signature fell back to the legacy one: %v", err)
		}
	})
}

// TestSimulatorTokenIsNoKey (issue 13 item 6): a simulator provider with a
// real secret refuses a receipt or reply signed with the old built-in
// simulator-token in every scheme that token was ever used with, and a
// simulator provider without a secret refuses everything and fails
// validation naming what to set.
func TestSimulatorTokenIsNoKey(t *testing.T) {
	t.Setenv("KT_SIM_REAL", "the-real-simulator-secret")
	c := provider.Config{Name: "sim", Kind: provider.KindSimulator, DLRSecretEnv: "KT_SIM_REAL"}
	src, _ := provider.SourceOf(c)
	src.PublicURL = "https://fleet.example"
	if src.Secret != "the-real-simulator-secret" {
		t.Fatalf("secret %q", src.Secret)
	}
	fields := url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"undelivered"}}
	reply := `{"from":"+4915112000001","to":"SHOP","text":"STOP"}`
	forged := []struct {
		name  string
		req   *http.Request
		reply bool
	}{
		{"Standard Webhooks receipt", standardRequest("/webhooks/dlr/sim", "application/x-www-form-urlencoded", fields.Encode(), provider.SimulatorAuthToken, "m1", at), false},
		{"Standard Webhooks reply", standardRequest("/webhooks/inbound/sim", "application/json", reply, provider.SimulatorAuthToken, "m2", at), true},
		{"X-Twilio-Signature receipt", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/webhooks/dlr/sim", strings.NewReader(fields.Encode()))
			r.Header.Set("X-Twilio-Signature", provider.TwilioSignature(provider.SimulatorAuthToken, "https://fleet.example/webhooks/dlr/sim", fields))
			return r
		}(), false},
		{"X-Signature reply", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/webhooks/inbound/sim", strings.NewReader(reply))
			r.Header.Set("X-Signature", signature.Sign(provider.SimulatorAuthToken, []byte(reply)))
			return r
		}(), true},
	}
	for _, f := range forged {
		t.Run(f.name, func(t *testing.T) {
			body := fields.Encode()
			if f.reply {
				body = reply
			}
			var err error
			if f.reply {
				_, _, err = src.Webhooks().ParseReply(src, f.req, []byte(body), at)
			} else {
				_, _, err = src.Webhooks().ParseReceipt(src, f.req, []byte(body), at)
			}
			if status(err) != http.StatusUnauthorized {
				t.Fatalf("forged with simulator-token: %v, want 401", err)
			}
		})
	}
	t.Run("no secret", func(t *testing.T) {
		bare := provider.Config{Name: "sim", Kind: provider.KindSimulator}
		if err := bare.Validate(); err == nil || !strings.Contains(err.Error(), "dlr_secret_env") || !strings.Contains(err.Error(), "SMSFLEET_SIMULATOR_SECRET") {
			t.Fatalf("Validate: %v, want an error naming dlr_secret_env and SMSFLEET_SIMULATOR_SECRET", err)
		}
		src, _ := provider.SourceOf(bare)
		if src.Secret != "" {
			t.Fatalf("a simulator without a secret got %q", src.Secret)
		}
		r := standardRequest("/", "application/json", reply, provider.SimulatorAuthToken, "m3", at)
		if _, _, err := src.Webhooks().ParseReply(src, r, []byte(reply), at); status(err) != 401 {
			t.Fatalf("reply to a simulator without a secret: %v, want 401", err)
		}
	})
}

// TestTwilioSignedURL (issue 13 item 5): the URL a Twilio-style signature
// is checked over is SMSFLEET_PUBLIC_URL's, never one the caller names in
// Host or X-Forwarded-*: a signature Twilio made for a URL of the
// attacker's is refused. Forwarded headers count only from a trusted
// proxy.
func TestTwilioSignedURL(t *testing.T) {
	const token = "tw-token"
	fields := url.Values{"MessageSid": {"SMin1"}, "From": {"+4915112000001"}, "To": {"SHOP"}, "Body": {"START"}}
	ours := "https://sms.example.com/webhooks/inbound/tw"
	theirs := "https://evil.example/webhooks/inbound/tw"
	src := provider.Source{Name: "tw", Kind: provider.KindTwilio, Secret: token, PublicURL: "https://sms.example.com/",
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	req := func(signedFor, peer string, hdr map[string]string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/webhooks/inbound/tw", strings.NewReader(fields.Encode()))
		r.RemoteAddr = peer
		r.Host = "evil.example"
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		r.Header.Set("X-Twilio-Signature", provider.TwilioSignature(token, signedFor, fields))
		return r
	}
	fwd := map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}
	tests := []struct {
		name   string
		src    provider.Source
		r      *http.Request
		status int
	}{
		{"signed for our public URL", src, req(ours, "203.0.113.9:5000", nil), 0},
		{"signed for the Host the caller sent", src, req(theirs, "203.0.113.9:5000", nil), 401},
		{"signed for X-Forwarded-Host from an untrusted peer", src, req(theirs, "203.0.113.9:5000", fwd), 401},
		{"X-Forwarded-Host from a trusted proxy", src, req(theirs, "10.1.2.3:5000", fwd), 0},
		{"X-Forwarded-Host from an IPv4-mapped trusted proxy", src, req(theirs, "[::ffff:10.1.2.3]:5000", fwd), 0},
		{"no public URL and no trusted proxy", provider.Source{Name: "tw", Kind: provider.KindTwilio, Secret: token}, req(theirs, "203.0.113.9:5000", fwd), 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(fields.Encode())
			rep, rp, err := tt.src.Webhooks().ParseReply(tt.src, tt.r, body, at)
			if status(err) != tt.status || (tt.status == 0 && err != nil) {
				t.Fatalf("err %v, want HTTP %d", err, tt.status)
			}
			if err == nil && (rep.Text != "START" || rp.ID != "sid:SMin1" || rp.TTL != provider.TwilioReplySeenTTL) {
				t.Fatalf("reply %+v replay %+v", rep, rp)
			}
		})
	}
}

// TestTwilioReplayIDs: a Twilio-style reply's replay id is its MessageSid
// (or SmsSid), which is required; a final receipt's is its sid and status;
// an intermediate receipt, which changes nothing, has none.
func TestTwilioReplayIDs(t *testing.T) {
	const token = "tw-token"
	src := provider.Source{Name: "tw", Kind: provider.KindTwilio, Secret: token, PublicURL: "https://sms.example.com"}
	signed := func(path string, f url.Values) (*http.Request, []byte) {
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(f.Encode()))
		r.Header.Set("X-Twilio-Signature", provider.TwilioSignature(token, "https://sms.example.com"+path, f))
		return r, []byte(f.Encode())
	}
	for _, tt := range []struct {
		name   string
		f      url.Values
		reply  bool
		id     string
		status int
	}{
		{"reply by MessageSid", url.Values{"MessageSid": {"SMa"}, "From": {"+1"}, "Body": {"STOP"}}, true, "sid:SMa", 0},
		{"reply by SmsSid", url.Values{"SmsSid": {"SMb"}, "From": {"+1"}, "Body": {"STOP"}}, true, "sid:SMb", 0},
		{"reply without a sid", url.Values{"From": {"+1"}, "Body": {"STOP"}}, true, "", 400},
		{"reply with a huge sid", url.Values{"MessageSid": {strings.Repeat("S", 300)}, "From": {"+1"}}, true, "", 400},
		{"delivered receipt", url.Values{"MessageSid": {"SMc"}, "MessageStatus": {"delivered"}}, false, "sid:SMc:delivered", 0},
		{"failed receipt", url.Values{"MessageSid": {"SMc"}, "MessageStatus": {"failed"}}, false, "sid:SMc:undelivered", 0},
		{"intermediate receipt", url.Values{"MessageSid": {"SMc"}, "MessageStatus": {"sent"}}, false, "", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var rp provider.Replay
			var err error
			if tt.reply {
				r, b := signed("/webhooks/inbound/tw", tt.f)
				_, rp, err = src.Webhooks().ParseReply(src, r, b, at)
			} else {
				r, b := signed("/webhooks/dlr/tw", tt.f)
				var rec sms.Receipt
				rec, rp, err = src.Webhooks().ParseReceipt(src, r, b, at)
				_ = rec
			}
			if status(err) != tt.status || rp.ID != tt.id {
				t.Fatalf("replay %+v err %v; want id %q HTTP %d", rp, err, tt.id, tt.status)
			}
		})
	}
}
