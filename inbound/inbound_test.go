package inbound

import (
	"context"
	"fmt"
	"io"
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

var replySeq atomic.Int64

// signJSON signs a JSON reply the Standard Webhooks way under secret, now,
// as a fresh webhook.
func signJSON(h http.Header, secret, body string) {
	id := fmt.Sprintf("msg_%d", replySeq.Add(1))
	if err := signature.SetStandard(h, secret, id, time.Now(), []byte(body)); err != nil {
		panic(err)
	}
}

// TestInboundReplies drives the inbound webhook of each provider kind
// against a real store: keywords opt out and back in, for the application
// whose sender was replied to, and bad requests change nothing.
func TestInboundReplies(t *testing.T) {
	r := testenv.NewRedis(t)
	st := store.New(r.Client(t), 24*time.Hour)
	ctx := context.Background()
	apps := func(to string) []string {
		if to == "SHOP" {
			return []string{"SHOP1-00001"}
		}
		return []string{"SHOP1-00001", "BANK1-00002"}
	}
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	NewInbound(InboundOptions{
		Sources: []provider.Source{
			{Name: "tw", Kind: "twilio", Secret: "tw-token", PublicURL: "http://" + srv.Listener.Addr().String()},
			{Name: "gw", Kind: "json", Secret: "gw-secret"},
			{Name: "sim", Kind: provider.KindSimulator, Secret: "sim-secret"},
		},
		OptOuts: st, StopWords: []string{"STOP", "QUIT", "OPTOUT"}, StartWords: []string{"START", "YES"},
		Apps: apps, DefaultRegion: "DE", Log: zap.NewNop(), Replays: st,
	}).Register(mux)
	srv.Start()
	defer srv.Close()

	// postJSONReply posts body signed under secret ("": unsigned).
	postJSONReply := func(name, body, secret string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/inbound/"+name, strings.NewReader(body))
		if secret != "" {
			signJSON(req.Header, secret, body)
		}
		return do(t, req)
	}
	postTwilioReply := func(fields url.Values, token string) (int, string) {
		u := srv.URL + "/webhooks/inbound/tw"
		req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(fields.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if token != "" {
			req.Header.Set("X-Twilio-Signature", provider.TwilioSignature(token, u, fields))
		}
		return do(t, req)
	}
	optedOut := func(app, phone string) bool {
		list, _, err := st.ListOptOuts(ctx, app, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range list {
			if o.Phone == phone {
				return true
			}
		}
		return false
	}
	simBody := func(from, to, text string) string {
		return `{"from":"` + from + `","to":"` + to + `","text":"` + text + `"}`
	}

	steps := []struct {
		name       string
		post       func() (int, string)
		wantStatus int
		wantBody   string
		phone      string
		shop, bank bool // opted out of each afterwards
	}{
		{"simulator STOP to the shop's sender", func() (int, string) {
			b := simBody("+4915112000001", "SHOP", "STOP")
			return postJSONReply("sim", b, "sim-secret")
		}, 204, "", "+4915112000001", true, false},
		{"simulator START opts back in", func() (int, string) {
			b := simBody("+4915112000001", "SHOP", " start! ")
			return postJSONReply("sim", b, "sim-secret")
		}, 204, "", "+4915112000001", false, false},
		{"JSON provider quit, to a shared number: every application", func() (int, string) {
			b := simBody("+4915112000002", "+4930000000", "quit")
			return postJSONReply("gw", b, "gw-secret")
		}, 204, "", "+4915112000002", true, true},
		{"a national number is read in the default region", func() (int, string) {
			b := simBody("015112000003", "SHOP", "OptOut")
			return postJSONReply("gw", b, "gw-secret")
		}, 204, "", "+4915112000003", true, false},
		{"a reply that is not a keyword changes nothing", func() (int, string) {
			b := simBody("+4915112000004", "SHOP", "stop sending me offers please")
			return postJSONReply("gw", b, "gw-secret")
		}, 204, "", "+4915112000004", false, false},
		{"Twilio STOP gets an empty TwiML answer", func() (int, string) {
			return postTwilioReply(url.Values{"MessageSid": {"SM5"}, "From": {"+4915112000005"}, "To": {"SHOP"}, "Body": {"Stop"}}, "tw-token")
		}, 200, "<Response></Response>", "+4915112000005", true, false},
		{"bad Twilio signature", func() (int, string) {
			return postTwilioReply(url.Values{"MessageSid": {"SM6"}, "From": {"+4915112000006"}, "To": {"SHOP"}, "Body": {"STOP"}}, "wrong-token")
		}, 401, "X-Twilio-Signature", "+4915112000006", false, false},
		{"missing JSON signature", func() (int, string) {
			return postJSONReply("gw", simBody("+4915112000006", "SHOP", "STOP"), "")
		}, 401, "webhook-id", "+4915112000006", false, false},
		{"unknown provider", func() (int, string) {
			b := simBody("+4915112000006", "SHOP", "STOP")
			return postJSONReply("nope", b, "gw-secret")
		}, 404, "unknown provider nope", "+4915112000006", false, false},
		{"malformed JSON", func() (int, string) {
			b := `{"from":`
			return postJSONReply("gw", b, "gw-secret")
		}, 400, "malformed JSON", "+4915112000006", false, false},
		{"no from", func() (int, string) {
			b := `{"to":"SHOP","text":"STOP"}`
			return postJSONReply("gw", b, "gw-secret")
		}, 400, "from is required", "+4915112000006", false, false},
		{"fullwidth ＳＴＯＰ is a STOP (NFKC)", func() (int, string) {
			b := simBody("+4915112000007", "SHOP", "ＳＴＯＰ")
			return postJSONReply("gw", b, "gw-secret")
		}, 204, "", "+4915112000007", true, false},
		{"a zero-width space before STOP is dropped", func() (int, string) {
			b := simBody("+4915112000008", "SHOP", "\u200bSTOP")
			return postJSONReply("gw", b, "gw-secret")
		}, 204, "", "+4915112000008", true, false},
		{"a body over the limit is 413 and changes nothing", func() (int, string) {
			b := simBody("+4915112000009", "SHOP", "STOP"+strings.Repeat(" ", provider.MaxWebhookBody))
			return postJSONReply("gw", b, "gw-secret")
		}, 413, "body: larger than 65536 bytes", "+4915112000009", false, false},
		{"from not a phone number", func() (int, string) {
			b := simBody("hello", "SHOP", "STOP")
			return postJSONReply("gw", b, "gw-secret")
		}, 400, "from:", "+4915112000006", false, false},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			code, body := s.post()
			if code != s.wantStatus || !strings.Contains(body, s.wantBody) {
				t.Fatalf("HTTP %d %q, want %d containing %q", code, body, s.wantStatus, s.wantBody)
			}
			if got := optedOut("SHOP1-00001", s.phone); got != s.shop {
				t.Errorf("opted out of the shop: %v, want %v", got, s.shop)
			}
			if got := optedOut("BANK1-00002", s.phone); got != s.bank {
				t.Errorf("opted out of the bank: %v, want %v", got, s.bank)
			}
		})
	}
}

func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestKeyword(t *testing.T) {
	in := NewInbound(InboundOptions{StopWords: []string{"STOP", "QUIT"}, StartWords: []string{"START"}, Log: zap.NewNop()})
	tests := []struct{ text, want string }{
		{"STOP", "stop"},
		{" stop! ", "stop"},
		{"ＳＴＯＰ", "stop"},             // fullwidth, folded by NFKC
		{"\u200bSTOP", "stop"},       // zero-width space (Cf)
		{"ST\u200dOP", "stop"},       // zero-width joiner inside the word
		{"\ufeffquit\u200e", "stop"}, // BOM and left-to-right mark
		{"ｓｔａｒｔ", "start"},           // fullwidth lower case
		{"Ｓtart\u2060", "start"},     // word joiner after
		{"STOP please", ""},
		{"ST OP", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := in.Keyword(tt.text); got != tt.want {
			t.Errorf("Keyword(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}
