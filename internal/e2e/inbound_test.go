package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/smsfleet/smsfleet/inbound"
	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/e2e/harness"
	"github.com/smsfleet/smsfleet/internal/fleet"
	"github.com/smsfleet/smsfleet/internal/outcomes"
	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/signature"
	"github.com/smsfleet/smsfleet/internal/simulator"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/testenv"
	"github.com/smsfleet/smsfleet/receipts"
)

// The shop's inbound settings in these tests.
const (
	inboundSecret   = "shop-inbound-callback-secret"
	helpText        = "Shop: help at shop.example.com. Reply STOP to stop."
	stopText        = "Shop: you will get no more SMS. Reply START to undo."
	startText       = "Shop: welcome back."
	twToken         = "e2e-twilio-auth-token"
	gwSecret        = "e2e-json-gateway-secret"
	unrelatedNumber = "+4930123456"
	publicURL       = "https://sms.e2e.example"
)

// inboundReceiver is an application's inbound callback endpoint: it checks
// each POST's Standard Webhooks signature with the application's secret,
// as a receiver would with any standard verifier, and records the events.
type inboundReceiver struct {
	t    *testing.T
	mu   sync.Mutex
	got  map[string][]inbound.Event // event id -> the POSTs accepted
	srv  *httptest.Server
	fail int // POSTs refused with a bad signature
}

func newInboundReceiver(t *testing.T) *inboundReceiver {
	c := &inboundReceiver{t: t, got: map[string][]inbound.Event{}}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id, err := signature.VerifyStandard(inboundSecret, r.Header, body, time.Now())
		c.mu.Lock()
		defer c.mu.Unlock()
		if err != nil {
			c.fail++
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var ev inbound.Event
		if err := json.Unmarshal(body, &ev); err != nil || ev.EventID != id {
			c.t.Errorf("inbound callback %s: %v (webhook-id %s)", body, err, id)
			return
		}
		c.got[id] = append(c.got[id], ev)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

// from returns the events accepted for phone, each once, and how many
// POSTs were accepted in all for them.
func (c *inboundReceiver) from(phone string) (events []inbound.Event, posts int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, evs := range c.got {
		if evs[0].From == phone {
			events = append(events, evs[0])
			posts += len(evs)
		}
	}
	return events, posts
}

// inboundEnv is a fleet with the receipts role on kfake, three webhook
// providers (the simulator, a Twilio-style one, a JSON one: each sends
// through the simulator) and a shop with an inbound callback, a help text
// and both confirmations; the bank sends from BANK with no inbound
// settings.
func inboundEnv(t *testing.T, extra ...func(*config.Config, *fleet.Roles)) (*harness.Env, *testenv.Kafka, *inboundReceiver) {
	t.Setenv("E2E_TW_TOKEN", twToken)
	t.Setenv("E2E_GW_SECRET", gwSecret)
	k := testenv.NewKafka(t, 3, receipts.Topic, receipts.TopicDLQ, outcomes.Topic, inbound.Topic, inbound.TopicDLQ)
	rcv := newInboundReceiver(t)
	mutate := append([]func(*config.Config, *fleet.Roles){withReceiptsOn(k), func(c *config.Config, _ *fleet.Roles) {
		c.Providers = []provider.Config{
			{Name: "simulator", Kind: provider.KindSimulator, WebhookSecret: c.SimulatorSecret},
			{Name: "tw", Kind: provider.KindTwilio, URL: "http://127.0.0.1:1", AccountSID: "AC-e2e", AuthTokenEnv: "E2E_TW_TOKEN"},
			{Name: "gw", Kind: provider.KindJSON, URL: "http://127.0.0.1:1", DLRSecretEnv: "E2E_GW_SECRET"},
		}
		c.Callback.AllowPrivate = true // the receiver is on loopback
		// What a Twilio-style signature signs (the harness would set the
		// API's address after validation, which needs it now).
		c.PublicURL = publicURL
		for i := range c.Applications {
			switch c.Applications[i].Code {
			case harness.ShopApp:
				c.Applications[i].CallbackSecret, c.Applications[i].CallbackAllowHTTP = inboundSecret, true
				c.Applications[i].Inbound = &config.ApplicationInbound{
					CallbackURL: rcv.srv.URL + "/replies", HelpWords: []string{"HELP", "INFO"}, HelpText: helpText,
					StopConfirmation: stopText, StartConfirmation: startText,
				}
			case harness.BankApp:
				c.Applications[i].Policy.Sender = "BANK"
			}
		}
	}}, extra...)
	e := harness.New(t, mutate...)
	return e, k, rcv
}

// replyPoster posts replies to the fleet as each provider kind does, each
// under the webhook id given (the same id is a replay).
type replyPoster func(id, from, to, text string) (int, string)

func replyPosters(t *testing.T, e *harness.Env) map[string]replyPoster {
	standard := func(name, secret string) replyPoster {
		return func(id, from, to, text string) (int, string) {
			body, _ := json.Marshal(map[string]string{"from": from, "to": to, "text": text})
			req, _ := http.NewRequest(http.MethodPost, e.API.URL+"/webhooks/inbound/"+name, strings.NewReader(string(body)))
			req.Header.Set("Content-Type", "application/json")
			if err := simulator.SignWebhook(req.Header, secret, id, e.Clock.Now(), body); err != nil {
				t.Fatal(err)
			}
			return doReq(t, req)
		}
	}
	return map[string]replyPoster{
		"simulator": standard("simulator", e.Config.SimulatorSecret),
		"json":      standard("gw", gwSecret),
		"twilio": func(id, from, to, text string) (int, string) {
			// Twilio signs the URL it was given: the fleet's public one.
			const path = "/webhooks/inbound/tw"
			f := url.Values{"MessageSid": {id}, "From": {from}, "To": {to}, "Body": {text}, "AccountSid": {"AC-e2e"}}
			req, _ := http.NewRequest(http.MethodPost, e.API.URL+path, strings.NewReader(f.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Twilio-Signature", provider.TwilioSignature(twToken, publicURL+path, f))
			return doReq(t, req)
		},
	}
}

func doReq(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// inboundItem is one reply of GET /api/v1/inbound.
type inboundItem struct {
	ID, From, To, Text, Keyword, Provider, Answer string
	FromHash                                      string `json:"from_hash"`
	AnswerSkipped                                 string `json:"answer_skipped"`
}

func listInbound(t *testing.T, e *harness.Env, token, query string) []inboundItem {
	t.Helper()
	var out struct{ Inbound []inboundItem }
	if st := e.Native("/api/v1/inbound?"+query, token, &out); st != http.StatusOK {
		t.Fatalf("GET /api/v1/inbound?%s: HTTP %d", query, st)
	}
	return out.Inbound
}

// readInbound reads the inbound topic from the start: the records there
// once want of them came (or wait passed).
func readInbound(t *testing.T, k *testenv.Kafka, want int, wait time.Duration) []inbound.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{k.Addr}, Topic: inbound.Topic, GroupID: "read-" + t.Name(), MaxWait: 50 * time.Millisecond})
	defer r.Close()
	var out []inbound.Message
	deadline := time.Now().Add(wait)
	for len(out) < want && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Until(deadline))
		m, err := r.ReadMessage(ctx)
		cancel()
		if err != nil {
			continue
		}
		var rec inbound.Message
		if err := json.Unmarshal(m.Value, &rec); err != nil {
			t.Fatalf("inbound record %s: %v", m.Value, err)
		}
		out = append(out, rec)
	}
	return out
}

// TestInboundRepliesOverEveryWebhookKind (issue 17): for the simulator,
// a Twilio-style and a JSON provider, a reply from a phone lands on the
// inbound topic, in the store, at the shop's callback (signed with its
// callback secret) and in GET /api/v1/inbound; HELP, STOP and START are
// applied and answered by an SMS that reaches the provider; a replayed
// webhook (same provider id) is applied once; keywords are kept and
// forwarded too.
func TestInboundRepliesOverEveryWebhookKind(t *testing.T) {
	e, k, rcv := inboundEnv(t)
	posters := replyPosters(t, e)
	phones := harness.Phones(7100, 3)
	kinds := []string{"simulator", "twilio", "json"}
	landed := 0
	for i, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			post, phone := posters[kind], phones[i]
			send := func(id, text string) {
				t.Helper()
				if st, body := post(id, phone, "smsfleet", text); st/100 != 2 {
					t.Fatalf("reply %q: HTTP %d %s", text, st, body)
				}
			}
			send(kind+"-1", "Is my parcel on its way?")
			send(kind+"-1", "Is my parcel on its way?") // the provider's retry: a replay
			send(kind+"-2", "help")
			send(kind+"-3", "Stop")
			harness.Eventually(t, 20*time.Second, func() bool { return optedOut(t, e, phone) }, func() string { return "the STOP did not opt the phone out" })
			send(kind+"-4", "START")
			harness.Eventually(t, 20*time.Second, func() bool { return !optedOut(t, e, phone) }, func() string { return "the START did not opt the phone back in" })
			landed += 4

			// The callback: each reply once, keywords included, signed.
			harness.Eventually(t, 20*time.Second, func() bool { evs, _ := rcv.from(phone); return len(evs) == 4 },
				func() string { evs, _ := rcv.from(phone); return fmt.Sprintf("callbacks: %+v, want 4", evs) })
			// The answers: the help text and both confirmations, one each.
			answers := func() map[string]int {
				n := map[string]int{}
				for _, m := range e.Sim.Messages(phone, 100) {
					n[m.Text]++
				}
				return n
			}
			harness.Eventually(t, 20*time.Second, func() bool { return len(answers()) == 3 },
				func() string {
					return fmt.Sprintf("SMS to the phone: %v, want the help text and both confirmations", answers())
				})

			items := listInbound(t, e, harness.ShopToken, "phone="+url.QueryEscape(phone))
			got := map[string]string{}
			for _, it := range items {
				if it.From != phone || it.To != "smsfleet" || it.Provider != map[string]string{"simulator": "simulator", "twilio": "tw", "json": "gw"}[kind] {
					t.Errorf("stored reply %+v", it)
				}
				got[it.Text] = it.Keyword
				if it.Keyword != "" && it.Answer == "" {
					t.Errorf("keyword reply %+v names no answer", it)
				}
				if it.Answer != "" {
					// An SMS like any other: a transactional message of the
					// shop's, counted, with its own status.
					v := e.WaitCounts(it.Answer, map[string]int64{"sent": 1}, 20*time.Second)
					if v.Message.Type != "transactional" || len(v.Recipients) != 1 || v.Recipients[0].To != phone {
						t.Errorf("the answer to %q: %+v", it.Text, v)
					}
				}
			}
			want := map[string]string{"Is my parcel on its way?": "", "help": "help", "Stop": "stop", "START": "start"}
			if fmt.Sprint(got) != fmt.Sprint(want) || len(items) != 4 {
				t.Errorf("GET /api/v1/inbound: %+v, want the 4 replies once each with keywords %v", items, want)
			}
			if other := listInbound(t, e, harness.BankToken, "phone="+url.QueryEscape(phone)); len(other) != 0 {
				t.Errorf("the bank sees the shop's replies: %+v", other)
			}
		})
	}
	// Nothing more than once: wait for a duplicate to show, by counting
	// what the fleet did rather than by time: another round of replies
	// from a fresh phone must be fully forwarded, and by then any
	// duplicate of the earlier ones would have been too.
	post, late := posters["json"], harness.Phones(7200, 1)[0]
	if st, body := post("late-1", late, "smsfleet", "late"); st/100 != 2 {
		t.Fatalf("late reply: HTTP %d %s", st, body)
	}
	harness.Eventually(t, 20*time.Second, func() bool { evs, _ := rcv.from(late); return len(evs) == 1 }, func() string { return "the late reply was not forwarded" })
	for _, phone := range phones {
		if evs, posts := rcv.from(phone); len(evs) != 4 || posts != 4 {
			t.Errorf("%s: %d events in %d POSTs, want 4 in 4", phone, len(evs), posts)
		}
		if n := len(e.Sim.Messages(phone, 100)); n != 3 {
			t.Errorf("%s: %d answers, want 3", phone, n)
		}
	}
	if rcv.fail != 0 {
		t.Errorf("%d callback POSTs failed the signature check", rcv.fail)
	}
	// Kafka: every reply was landed there first (the replay not again).
	recs := readInbound(t, k, landed+1, 20*time.Second)
	byPhone := map[string]int{}
	for _, r := range recs {
		byPhone[r.From]++
	}
	for _, phone := range phones {
		if byPhone[phone] != 4 {
			t.Errorf("%s: %d records on %s, want 4", phone, byPhone[phone], inbound.Topic)
		}
	}
}

// optedOut reports whether phone is on the shop's opt-out list.
func optedOut(t *testing.T, e *harness.Env, phone string) bool {
	o, err := e.Fleet.Store().GetOptOut(context.Background(), harness.ShopApp, phone)
	if err != nil {
		t.Fatal(err)
	}
	return len(o.Records) > 0
}

// TestInboundUnmatchedAndBadInputChangeNothing (issue 17): a reply to a
// number no application sends from, keyword or not, is kept for the
// operator and changes nothing for any application (no opt-out, no stored
// reply, no callback, no answer); replies a provider cannot have sent
// right (unsigned, badly signed, oversize, bad encodings, no sender) are
// refused with an error naming what is wrong, and nothing is stored.
func TestInboundUnmatchedAndBadInputChangeNothing(t *testing.T) {
	e, _, rcv := inboundEnv(t)
	posters := replyPosters(t, e)
	ctx := context.Background()
	rdb := e.Fleet.Store().Redis()
	// Replies stored for any application (the shop and the open app both
	// send from the default sender, so a reply to it is kept for both).
	stored := func() int {
		return len(e.ScanKeys("sf:in:*")) // every master of a cluster
	}
	unmatched := func() int64 { return rdb.XLen(ctx, "sf:ibu").Val() }

	phone := harness.Phones(7300, 1)[0]
	for i, text := range []string{"STOP", "who is this?", "HELP"} {
		for _, kind := range []string{"simulator", "twilio", "json"} {
			if st, body := posters[kind](fmt.Sprintf("un-%s-%d", kind, i), phone, unrelatedNumber, text); st/100 != 2 {
				t.Fatalf("%s reply to an unrelated number: HTTP %d %s", kind, st, body)
			}
		}
	}
	harness.Eventually(t, 20*time.Second, func() bool { return unmatched() == 9 }, func() string { return fmt.Sprintf("%d unmatched replies kept, want 9", unmatched()) })
	list, err := e.Fleet.Store().ListUnmatched(ctx, 20)
	if err != nil {
		t.Fatal(err)
	}
	kws := map[string]int{}
	for _, u := range list {
		if u.From != phone || u.To != unrelatedNumber || u.ID == "" || u.Text == "" {
			t.Errorf("unmatched reply %+v", u)
		}
		kws[u.Keyword]++
	}
	if kws["stop"] != 3 || kws[""] != 6 {
		t.Errorf("unmatched keywords %v, want 3 stop and 6 none (HELP is the shop's word, not the fleet's)", kws)
	}
	for _, token := range []string{harness.ShopToken, harness.BankToken, harness.OpenToken} {
		if items := listInbound(t, e, token, ""); len(items) != 0 {
			t.Errorf("an application got unmatched replies: %+v", items)
		}
	}
	if optedOut(t, e, phone) || stored() != 0 {
		t.Errorf("an unmatched STOP changed something: opted out %v, %d replies stored", optedOut(t, e, phone), stored())
	}
	if evs, _ := rcv.from(phone); len(evs) != 0 {
		t.Errorf("unmatched replies forwarded: %+v", evs)
	}
	if n := len(e.Sim.Messages(phone, 10)); n != 0 {
		t.Errorf("unmatched replies answered: %d SMS", n)
	}

	post := func(path string, body []byte, sign func(http.Header, []byte)) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, e.API.URL+path, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		if sign != nil {
			sign(req.Header, body)
		}
		return doReq(t, req)
	}
	seq := 0
	signed := func(secret string) func(http.Header, []byte) {
		return func(h http.Header, body []byte) {
			seq++
			if err := simulator.SignWebhook(h, secret, fmt.Sprintf("bad-%d", seq), e.Clock.Now(), body); err != nil {
				t.Fatal(err)
			}
		}
	}
	twilioForm := func(f url.Values, token string) (int, string) {
		const path = "/webhooks/inbound/tw"
		req, _ := http.NewRequest(http.MethodPost, e.API.URL+path, strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", provider.TwilioSignature(token, publicURL+path, f))
		return doReq(t, req)
	}
	good := phone
	tests := []struct {
		name     string
		post     func() (int, string)
		status   int
		contains string
	}{
		{"unsigned", func() (int, string) {
			return post("/webhooks/inbound/gw", []byte(`{"from":"`+good+`","to":"smsfleet","text":"STOP"}`), nil)
		}, 401, "webhook-id"},
		{"signed with another secret", func() (int, string) {
			return post("/webhooks/inbound/gw", []byte(`{"from":"`+good+`","to":"smsfleet","text":"STOP"}`), signed("not-the-secret"))
		}, 401, "bad signature"},
		{"Twilio-style with a wrong token", func() (int, string) {
			return twilioForm(url.Values{"MessageSid": {"SMbad1"}, "From": {good}, "To": {"smsfleet"}, "Body": {"STOP"}}, "wrong-token")
		}, 401, "X-Twilio-Signature"},
		{"a body over 64 KiB", func() (int, string) {
			return post("/webhooks/inbound/gw", []byte(`{"from":"`+good+`","to":"smsfleet","text":"`+strings.Repeat("a", provider.MaxWebhookBody)+`"}`), signed(gwSecret))
		}, 413, "larger than 65536 bytes"},
		{"a text over 1600 characters", func() (int, string) {
			return post("/webhooks/inbound/gw", []byte(`{"from":"`+good+`","to":"smsfleet","text":"`+strings.Repeat("é", inbound.MaxText+1)+`"}`), signed(gwSecret))
		}, 400, "text: longer than 1600 characters"},
		{"invalid UTF-8 in a JSON text", func() (int, string) {
			return post("/webhooks/inbound/gw", []byte("{\"from\":\""+good+"\",\"to\":\"smsfleet\",\"text\":\"STOP\xff\xfe\"}"), signed(gwSecret))
		}, 400, "text: contains U+FFFD"},
		{"a lone surrogate escape in a JSON text", func() (int, string) {
			return post("/webhooks/inbound/gw", []byte(`{"from":"`+good+`","to":"smsfleet","text":"\ud800STOP"}`), signed(gwSecret))
		}, 400, "text: contains U+FFFD"},
		{"invalid UTF-8 in a Twilio-style body", func() (int, string) {
			return twilioForm(url.Values{"MessageSid": {"SMbad2"}, "From": {good}, "To": {"smsfleet"}, "Body": {"STOP\xff"}}, twToken)
		}, 400, "text: not valid UTF-8"},
		{"a from that is no phone number", func() (int, string) {
			return post("/webhooks/inbound/gw", []byte(`{"from":"hello","to":"smsfleet","text":"STOP"}`), signed(gwSecret))
		}, 400, "from:"},
		{"no to", func() (int, string) {
			return post("/webhooks/inbound/gw", []byte(`{"from":"`+good+`","text":"STOP"}`), signed(gwSecret))
		}, 400, "to: required"},
		{"a to over 32 bytes", func() (int, string) {
			return post("/webhooks/inbound/gw", []byte(`{"from":"`+good+`","to":"`+strings.Repeat("9", 40)+`","text":"STOP"}`), signed(gwSecret))
		}, 400, "to: longer than 32 bytes"},
		{"an unknown provider", func() (int, string) {
			return post("/webhooks/inbound/nope", []byte(`{"from":"`+good+`","to":"smsfleet","text":"STOP"}`), signed(gwSecret))
		}, 404, "unknown provider nope"},
	}
	before := unmatched()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, body := tt.post()
			if st != tt.status || !strings.Contains(body, tt.contains) {
				t.Fatalf("HTTP %d %q, want %d naming %q", st, body, tt.status, tt.contains)
			}
		})
	}
	// Nothing of them was landed: a good reply sent after them is the
	// only new one applied (counting, not waiting).
	if st, body := posters["json"]("after-bad", good, "smsfleet", "after"); st/100 != 2 {
		t.Fatalf("good reply: HTTP %d %s", st, body)
	}
	harness.Eventually(t, 20*time.Second, func() bool { return stored() == 2 }, func() string {
		return fmt.Sprintf("%d replies stored, want the good one for the shop and the open app: %v", stored(), e.ScanKeys("sf:in:*"))
	})
	if optedOut(t, e, good) || unmatched() != before {
		t.Errorf("refused replies changed something: opted out %v, unmatched %d (was %d)", optedOut(t, e, good), unmatched(), before)
	}
	if items := listInbound(t, e, harness.ShopToken, "phone="+url.QueryEscape(good)); len(items) != 1 || items[0].Text != "after" {
		t.Errorf("the shop's replies: %+v, want only the good one", items)
	}
}

// TestInboundAPIFiltersAndPages: GET /api/v1/inbound filters by phone (in
// any form the intake takes) and by date or time range, pages with
// next_cursor, shows an application only its own replies, and answers a
// bad filter 400 naming it, and a missing token 401.
func TestInboundAPIFiltersAndPages(t *testing.T) {
	e := harness.New(t)
	ctx := context.Background()
	st := e.Fleet.Store()
	day := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	// Replies 3 hours apart from 10:00 (the last at 01:00 the next day),
	// all within the suite's 24-hour retention of the clock.
	e.Clock.Set(day.Add(26 * time.Hour))
	p, q := "+4915112345601", "+4915112345602"
	for i := range 6 {
		from := p
		if i%2 == 1 {
			from = q
		}
		m := store.InboundMessage{ID: fmt.Sprintf("api-%d", i), Provider: "gw", From: from, To: "smsfleet", Text: fmt.Sprintf("reply %d", i), At: day.Add(10*time.Hour + time.Duration(i)*3*time.Hour)}
		if _, err := st.SaveInbound(ctx, harness.ShopApp, m, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.SaveInbound(ctx, harness.BankApp, store.InboundMessage{ID: "bank-1", Provider: "gw", From: p, To: "BANK", Text: "bank", At: day.Add(12 * time.Hour)}, 0); err != nil {
		t.Fatal(err)
	}
	texts := func(items []inboundItem) string {
		var out []string
		for _, it := range items {
			out = append(out, strings.TrimPrefix(it.Text, "reply "))
		}
		return strings.Join(out, ",")
	}
	for _, tt := range []struct{ query, want string }{
		{"", "5,4,3,2,1,0"},
		{"phone=" + url.QueryEscape(p), "4,2,0"},
		{"phone=" + url.QueryEscape("+49 151 1234 5602"), "5,3,1"}, // as a person writes it
		{"from=2026-12-01", "5"},
		{"to=2026-11-30", "4,3,2,1,0"},
		{"from=2026-11-30T12:00:00Z&to=2026-11-30T19:00:00Z", "3,2,1"},
		{"phone=" + url.QueryEscape(q) + "&from=2026-11-30T14:00:00Z", "5,3"},
	} {
		if got := texts(listInbound(t, e, harness.ShopToken, tt.query)); got != tt.want {
			t.Errorf("?%s: %s, want %s", tt.query, got, tt.want)
		}
	}
	// Pages of two: every reply once, in order.
	var all []string
	cursor := ""
	for range 10 {
		var page struct {
			Inbound    []inboundItem
			NextCursor string `json:"next_cursor"`
		}
		if st := e.Native("/api/v1/inbound?limit=2"+cursor, harness.ShopToken, &page); st != http.StatusOK {
			t.Fatalf("page: HTTP %d", st)
		}
		all = append(all, texts(page.Inbound))
		if page.NextCursor == "" {
			break
		}
		cursor = "&cursor=" + page.NextCursor
	}
	if got := strings.Join(all, ","); got != "5,4,3,2,1,0" {
		t.Errorf("paged: %s", got)
	}
	if got := texts(listInbound(t, e, harness.BankToken, "")); got != "bank" {
		t.Errorf("the bank's replies: %s", got)
	}

	for _, tt := range []struct {
		query  string
		status int
		names  string
	}{
		{"phone=hello", 400, "phone:"},
		{"from=yesterday", 400, "from: must be a date (YYYY-MM-DD) or an RFC 3339 time"},
		{"to=2026-13-01", 400, "to: must be a date"},
		{"from=2026-12-01&to=2026-11-30", 400, "to: before from"},
		{"limit=0", 400, "limit must be an integer"},
		{"cursor=abc", 400, "cursor must be a value from next_cursor"},
	} {
		t.Run(tt.query, func(t *testing.T) {
			var body map[string]string
			if st := e.Native("/api/v1/inbound?"+tt.query, harness.ShopToken, &body); st != tt.status || !strings.Contains(body["error"], tt.names) {
				t.Fatalf("HTTP %d %v, want %d naming %q", st, body, tt.status, tt.names)
			}
		})
	}
	var body map[string]any
	if st := e.Native("/api/v1/inbound", "", &body); st != http.StatusUnauthorized {
		t.Errorf("without a token: HTTP %d %v, want 401", st, body)
	}
}

// waitReplyApplied returns a function that, after a reply was posted,
// waits until the inbound consumer applied its opt-out change: replies
// land in Kafka first, so the webhook's 2xx comes before the reply's
// effects. It counts what applying leaves (a stored reply, which the
// Applier writes after every application's opt-out change, or an
// unmatched one), not time.
func waitReplyApplied(t *testing.T, e *harness.Env) func() {
	ctx := context.Background()
	rdb := e.Fleet.Store().Redis()
	count := func() int64 {
		return int64(len(e.ScanKeys("sf:in:*"))) + rdb.XLen(ctx, "sf:ibu").Val()
	}
	before := count()
	return func() {
		t.Helper()
		harness.Eventually(t, 20*time.Second, func() bool { return count() > before }, func() string { return "the reply was not applied" })
		before = count()
	}
}

// TestInboundAnswersThrottledHashedAndUnmatchedForTheOperator (issue 17):
// on a fleet whose shop has hash_numbers,
//   - a phone texting HELP five times gets one answer (the default one
//     per 10 minutes); the other four replies are kept and say
//     answer_skipped "throttled"; a second STOP is applied but not
//     confirmed again;
//   - a START that leaves an API opt-out standing is not confirmed
//     (answer_skipped "still_opted_out") and the phone stays opted out;
//   - the callback and GET /api/v1/inbound carry from_hash (the outcome
//     events' HMAC), never the number;
//   - a reply to a sender no application has is listed for the operator
//     at GET /api/v1/admin/inbound/unmatched, masked and without its text
//     unless full=1.
func TestInboundAnswersThrottledHashedAndUnmatchedForTheOperator(t *testing.T) {
	key := strings.Repeat("h", config.MinNumberHashKey)
	e, _, rcv := inboundEnv(t, withAdmin(50*time.Millisecond), func(c *config.Config, _ *fleet.Roles) {
		for i := range c.Applications {
			if c.Applications[i].Code == harness.ShopApp {
				c.Applications[i].Privacy.HashNumbers, c.Applications[i].Privacy.NumberHashKey = true, key
			}
		}
	})
	post := replyPosters(t, e)["json"]
	phones := harness.Phones(7300, 3)
	flood, blocked, stranger := phones[0], phones[1], phones[2]
	applied := waitReplyApplied(t, e)
	send := func(id, from, to, text string) {
		t.Helper()
		if st, body := post(id, from, to, text); st/100 != 2 {
			t.Fatalf("reply %q: HTTP %d %s", text, st, body)
		}
		applied()
	}
	for i := range 5 {
		send(fmt.Sprintf("flood-help-%d", i), flood, "smsfleet", "HELP")
	}
	send("flood-stop-1", flood, "smsfleet", "STOP")
	send("flood-stop-2", flood, "smsfleet", "STOP")
	if !optedOut(t, e, flood) {
		t.Fatal("the STOPs did not opt the phone out")
	}
	if _, err := e.Fleet.Store().AddOptOut(context.Background(), harness.ShopApp, blocked, ""); err != nil {
		t.Fatal(err)
	}
	send("blocked-start", blocked, "smsfleet", "START")
	if !optedOut(t, e, blocked) {
		t.Fatal("a START removed the API's opt-out")
	}
	send("stranger-1", stranger, "NOBODY", "who is this?")

	// Every reply records its answer or why it got none.
	decided := func(phone string, n int) []inboundItem {
		var items []inboundItem
		harness.Eventually(t, 20*time.Second, func() bool {
			items = listInbound(t, e, harness.ShopToken, "phone="+url.QueryEscape(phone))
			for _, it := range items {
				if it.Answer == "" && it.AnswerSkipped == "" {
					return false
				}
			}
			return len(items) == n
		}, func() string { return fmt.Sprintf("replies of %s: %+v", phone, items) })
		return items
	}
	got := map[string]int{}
	for _, it := range decided(flood, 7) {
		got[it.Text+" "+map[bool]string{true: "answered", false: it.AnswerSkipped}[it.Answer != ""]]++
		if it.From != "" || it.FromHash != outcomes.HashPhone([]byte(key), flood) {
			t.Errorf("GET /api/v1/inbound with hash_numbers: %+v, want from_hash and no from", it)
		}
	}
	if want := map[string]int{"HELP answered": 1, "HELP throttled": 4, "STOP answered": 1, "STOP throttled": 1}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("flood: %v, want %v", got, want)
	}
	if items := decided(blocked, 1); items[0].AnswerSkipped != inbound.SkipStillOptedOut {
		t.Fatalf("START under an API opt-out: %+v, want answer_skipped %s", items[0], inbound.SkipStillOptedOut)
	}
	// The answers that were written reach the phone: one help text, one
	// STOP confirmation; the blocked phone gets none.
	harness.Eventually(t, 20*time.Second, func() bool { return len(e.Sim.Messages(flood, 100)) == 2 },
		func() string {
			return fmt.Sprintf("SMS to the flooding phone: %d, want 2", len(e.Sim.Messages(flood, 100)))
		})
	if n := len(e.Sim.Messages(blocked, 100)); n != 0 {
		t.Fatalf("the START under an API opt-out got %d SMS", n)
	}

	// The callback: 8 events, hashed, none carrying a number.
	hashes := map[string]string{outcomes.HashPhone([]byte(key), flood): "flood", outcomes.HashPhone([]byte(key), blocked): "blocked"}
	events := func() (n int, bad []inbound.Event) {
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		for _, evs := range rcv.got {
			n++
			if evs[0].From != "" || hashes[evs[0].FromHash] == "" {
				bad = append(bad, evs[0])
			}
		}
		return n, bad
	}
	harness.Eventually(t, 20*time.Second, func() bool { n, _ := events(); return n == 8 },
		func() string { n, _ := events(); return fmt.Sprintf("%d callbacks, want 8", n) })
	if _, bad := events(); len(bad) > 0 {
		t.Fatalf("callbacks with a number or an unknown hash: %+v", bad)
	}

	// The operator reads the unmatched reply: masked by default, in full
	// with full=1; an application's token is refused.
	path := "/api/v1/admin/inbound/unmatched?from=" + e.Clock.Now().UTC().Format(time.DateOnly)
	if st, _ := adminCall(t, e, "GET", path, "Token "+harness.ShopToken, ""); st != http.StatusUnauthorized {
		t.Fatalf("an application's token: HTTP %d", st)
	}
	page := operator(t, e, "GET", path, "")
	list, _ := page["unmatched"].([]any)
	if len(list) != 1 {
		t.Fatalf("unmatched: %v, want the stranger's reply", page)
	}
	u := list[0].(map[string]any)
	if u["from"] != sms.MaskPhone(stranger) || u["to"] != "NOBODY" || u["text"] != nil || u["text_chars"] != float64(len("who is this?")) {
		t.Fatalf("masked view: %v", u)
	}
	u = operator(t, e, "GET", path+"&full=1", "")["unmatched"].([]any)[0].(map[string]any)
	if u["from"] != stranger || u["text"] != "who is this?" {
		t.Fatalf("full view: %v", u)
	}
	if st, out := adminCall(t, e, "GET", "/api/v1/admin/inbound/unmatched?limit=0", "Bearer "+adminToken, ""); st != http.StatusBadRequest || out["field"] != "limit" {
		t.Fatalf("limit=0: HTTP %d %v", st, out)
	}
}
