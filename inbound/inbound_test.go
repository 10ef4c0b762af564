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
	"unicode"

	"go.uber.org/zap"
	"golang.org/x/text/unicode/norm"

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
	// The shop sends from SHOP, the bank from BANK; both from the shared
	// short code 12345. No application sends from +4930000000.
	apps := func(sender string) []string {
		switch sender {
		case "SHOP":
			return []string{"SHOP1-00001"}
		case "BANK":
			return []string{"BANK1-00002"}
		case "12345":
			return []string{"SHOP1-00001", "BANK1-00002"}
		}
		return nil
	}
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	newTestInbound(testOpts{
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
	optedOut := func(app, phone string) bool { return isOptedOut(t, st, app, phone) }
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
		unmatched  int  // replies kept as unmatched so far
	}{
		{"simulator STOP to the shop's sender", func() (int, string) {
			b := simBody("+4915112000001", "SHOP", "STOP")
			return postJSONReply("sim", b, "sim-secret")
		}, 204, "", "+4915112000001", true, false, 0},
		{"simulator START opts back in", func() (int, string) {
			b := simBody("+4915112000001", "SHOP", " start! ")
			return postJSONReply("sim", b, "sim-secret")
		}, 204, "", "+4915112000001", false, false, 0},
		{"JSON provider quit, to a number no application sends from: kept unmatched, nothing changes", func() (int, string) {
			b := simBody("+4915112000002", "+4930000000", "quit")
			return postJSONReply("gw", b, "gw-secret")
		}, 204, "", "+4915112000002", false, false, 1},
		{"STOP to the bank's sender: the bank only", func() (int, string) {
			b := simBody("+4915112000010", "BANK", "STOP")
			return postJSONReply("gw", b, "gw-secret")
		}, 204, "", "+4915112000010", false, true, 1},
		{"STOP to a short code both send from: both", func() (int, string) {
			b := simBody("+4915112000011", "12345", "STOP")
			return postJSONReply("gw", b, "gw-secret")
		}, 204, "", "+4915112000011", true, true, 1},
		{"STOP to the shop's sender, in another case", func() (int, string) {
			b := simBody("+4915112000012", "shop", "STOP")
			return postJSONReply("gw", b, "gw-secret")
		}, 204, "", "+4915112000012", true, false, 1},
		{"START to an unrelated number does not undo it: kept unmatched", func() (int, string) {
			b := simBody("+4915112000012", "+4930000000", "START")
			return postJSONReply("gw", b, "gw-secret")
		}, 204, "", "+4915112000012", true, false, 2},
		{"START to the bank's sender does not undo the shop's STOP", func() (int, string) {
			b := simBody("+4915112000012", "BANK", "START")
			return postJSONReply("gw", b, "gw-secret")
		}, 204, "", "+4915112000012", true, false, 2},
		{"START to the shop's sender does", func() (int, string) {
			b := simBody("+4915112000012", "SHOP", "START")
			return postJSONReply("gw", b, "gw-secret")
		}, 204, "", "+4915112000012", false, false, 2},
		{"STOP to something that is no sender id: unmatched", func() (int, string) {
			b := simBody("+4915112000013", "not a sender!", "STOP")
			return postJSONReply("gw", b, "gw-secret")
		}, 204, "", "+4915112000013", false, false, 3},
		{"a national number is read in the default region", func() (int, string) {
			b := simBody("015112000003", "SHOP", "OptOut")
			return postJSONReply("gw", b, "gw-secret")
		}, 204, "", "+4915112000003", true, false, 3},
		{"a reply that is not a keyword changes nothing", func() (int, string) {
			b := simBody("+4915112000004", "SHOP", "stop sending me offers please")
			return postJSONReply("gw", b, "gw-secret")
		}, 204, "", "+4915112000004", false, false, 3},
		{"Twilio STOP gets an empty TwiML answer", func() (int, string) {
			return postTwilioReply(url.Values{"MessageSid": {"SM5"}, "From": {"+4915112000005"}, "To": {"SHOP"}, "Body": {"Stop"}}, "tw-token")
		}, 200, "<Response></Response>", "+4915112000005", true, false, 3},
		{"bad Twilio signature", func() (int, string) {
			return postTwilioReply(url.Values{"MessageSid": {"SM6"}, "From": {"+4915112000006"}, "To": {"SHOP"}, "Body": {"STOP"}}, "wrong-token")
		}, 401, "X-Twilio-Signature", "+4915112000006", false, false, 3},
		{"missing JSON signature", func() (int, string) {
			return postJSONReply("gw", simBody("+4915112000006", "SHOP", "STOP"), "")
		}, 401, "webhook-id", "+4915112000006", false, false, 3},
		{"unknown provider", func() (int, string) {
			b := simBody("+4915112000006", "SHOP", "STOP")
			return postJSONReply("nope", b, "gw-secret")
		}, 404, "unknown provider nope", "+4915112000006", false, false, 3},
		{"malformed JSON", func() (int, string) {
			b := `{"from":`
			return postJSONReply("gw", b, "gw-secret")
		}, 400, "malformed JSON", "+4915112000006", false, false, 3},
		{"no from", func() (int, string) {
			b := `{"to":"SHOP","text":"STOP"}`
			return postJSONReply("gw", b, "gw-secret")
		}, 400, "from is required", "+4915112000006", false, false, 3},
		{"fullwidth ＳＴＯＰ is a STOP (NFKC)", func() (int, string) {
			b := simBody("+4915112000007", "SHOP", "ＳＴＯＰ")
			return postJSONReply("gw", b, "gw-secret")
		}, 204, "", "+4915112000007", true, false, 3},
		{"a zero-width space before STOP is dropped", func() (int, string) {
			b := simBody("+4915112000008", "SHOP", "\u200bSTOP")
			return postJSONReply("gw", b, "gw-secret")
		}, 204, "", "+4915112000008", true, false, 3},
		{"a body over the limit is 413 and changes nothing", func() (int, string) {
			b := simBody("+4915112000009", "SHOP", "STOP"+strings.Repeat(" ", provider.MaxWebhookBody))
			return postJSONReply("gw", b, "gw-secret")
		}, 413, "body: larger than 65536 bytes", "+4915112000009", false, false, 3},
		{"from not a phone number", func() (int, string) {
			b := simBody("hello", "SHOP", "STOP")
			return postJSONReply("gw", b, "gw-secret")
		}, 400, "from:", "+4915112000006", false, false, 3},
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
			// The unmatched stream, read as the operator would (its key).
			if n, err := r.Client(t).XLen(ctx, "sf:ibu").Result(); err != nil || n != int64(s.unmatched) {
				t.Errorf("unmatched replies kept: %d (%v), want %d", n, err, s.unmatched)
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
	in := NewKeywords([]string{"STOP", "QUIT"}, []string{"START"}, nil)
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
		if got := in.Fleet(tt.text); got != tt.want {
			t.Errorf("Keyword(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}

// FuzzKeyword: whatever a phone sends, Keyword does not panic, answers
// "stop", "start" or "" only, "" for text that is no configured word once
// normalised, and the same for the text and its NFKC form (idempotent
// under NFKC: normalising first changes nothing).
func FuzzKeyword(f *testing.F) {
	stop, start := []string{"STOP", "STOPALL", "UNSUBSCRIBE", "END", "QUIT", "CANCEL", "REVOKE", "OPTOUT"}, []string{"START", "UNSTOP", "YES"}
	in := NewKeywords(stop, start, nil)
	for _, seed := range []string{"STOP", " stop! ", "ＳＴＯＰ", "\u200bSTOP", "ST\u200dOP", "\ufeffquit\u200e", "ｓｔａｒｔ", "Ｓtart\u2060",
		"STOP please", "ST OP", "", "\xff\xfeSTOP", "ﬀ", "Ǆ", "\u0130", "...", "stop\x00", "yes\u00a0", "ＥＮＤ。"} {
		f.Add(seed)
	}
	configured := map[string]bool{}
	for _, w := range append(append([]string{}, stop...), start...) {
		configured[w] = true
	}
	f.Fuzz(func(t *testing.T, text string) {
		got := in.Fleet(text)
		switch got {
		case "", "stop", "start":
		default:
			t.Fatalf("Keyword(%q) = %q, want stop, start or \"\"", text, got)
		}
		if again := in.Fleet(norm.NFKC.String(text)); again != got {
			t.Fatalf("Keyword(%q) = %q but Keyword(NFKC) = %q", text, got, again)
		}
		if got != "" && !strings.ContainsFunc(text, unicode.IsLetter) {
			t.Fatalf("Keyword(%q) = %q for text without a letter", text, got)
		}
		if got == "" && configured[strings.ToUpper(text)] {
			t.Fatalf("Keyword(%q) = \"\" for a configured word", text)
		}
	})
}

// isOptedOut reports whether phone is on app's opt-out list.
func isOptedOut(t *testing.T, st *store.Store, app, phone string) bool {
	t.Helper()
	list, _, err := st.ListOptOuts(context.Background(), app, 0, 100)
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
