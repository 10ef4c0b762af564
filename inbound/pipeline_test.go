package inbound

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/dispatcher"
	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/outcomes"
	"github.com/smsfleet/smsfleet/internal/signature"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/tasks"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

const (
	shop       = "SHOP1-00001"
	shopSecret = "shop-callback-secret-for-tests"
	shopHelp   = "Shop help: shop.example.com"
	shopStop   = "Shop: stopped."
)

// pipeline is an Applier on a real Redis, with the real store, enqueuer
// and asynq client: the shop sends from SHOP, has a callback URL, a help
// text and a STOP confirmation.
type pipeline struct {
	st      *store.Store
	applier *Applier
	insp    *asynq.Inspector
	now     time.Time
	// shop is the shop's inbound settings (the tests may change them).
	shop config.ApplicationInbound
}

func newPipeline(t *testing.T) *pipeline { return newPipelineTB(t) }

func newPipelineTB(t testing.TB) *pipeline {
	t.Helper()
	r := testenv.NewRedis(t)
	rdb := r.Client(t)
	p := &pipeline{now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return p.now }
	ids, err := store.LoadIDs(context.Background(), rdb, "")
	if err != nil {
		t.Fatal(err)
	}
	p.st = store.New(rdb, 24*time.Hour, store.WithClock(clock), store.WithIDs(ids))
	if err := p.st.LoadScripts(context.Background()); err != nil {
		t.Fatal(err)
	}
	q := asynq.NewClientFromRedisClient(rdb)
	t.Cleanup(func() { _ = q.Close() })
	p.insp = asynq.NewInspectorFromRedisClient(rdb)
	p.shop = config.ApplicationInbound{CallbackURL: "https://shop.example.com/replies", HelpWords: []string{"HELP"}, HelpText: shopHelp, StopConfirmation: shopStop}
	settings := func(app string) config.ApplicationInbound {
		if app != shop {
			return config.ApplicationInbound{}
		}
		return p.shop
	}
	p.applier = &Applier{
		Store: p.st, Settings: settings, Log: zap.NewNop(),
		Apps: func(sender string) []string {
			if sender == "SHOP" {
				return []string{shop}
			}
			return nil
		},
		Keywords: NewKeywords([]string{"STOP"}, []string{"START"}, settings),
		Answers: &Answers{Store: p.st, Enqueuer: dispatcher.NewEnqueuer(p.st, q, 4, 10*time.Second, clock),
			Policy: func(string) config.Resolved { return config.Default().PolicyOf(shop) }, ChunkSize: 1000, Now: clock, Log: zap.NewNop()},
		Callbacks: &Callbacks{Queue: q, MaxAttempts: 3, Timeout: 5 * time.Second},
	}
	return p
}

// counts are what applying replies left: replies stored for the shop,
// callback tasks queued, answer messages written, and whether the phone
// is opted out.
type counts struct {
	stored, callbacks, answers int
	optedOut                   bool
}

func (p *pipeline) counts(t *testing.T, phone string) counts {
	t.Helper()
	ctx := context.Background()
	ms, _, err := p.st.ListInbound(ctx, shop, store.InboundQuery{Phone: phone, Limit: 100}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var c counts
	c.stored = len(ms)
	if info, err := p.insp.GetQueueInfo(tasks.CallbackQueue); err == nil {
		c.callbacks = info.Size
	}
	msgs, _, err := p.st.ListMessages(ctx, shop, 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	c.answers = len(msgs)
	o, err := p.st.GetOptOut(ctx, shop, phone)
	if err != nil {
		t.Fatal(err)
	}
	c.optedOut = len(o.Records) > 0
	return c
}

// TestApplyingAReplyAgainRepeatsNothing: a reply applied twice (a Kafka
// redelivery, the webhook's retry) is stored once, forwarded once and
// answered once, whatever the keyword; an unmatched one is kept once.
func TestApplyingAReplyAgainRepeatsNothing(t *testing.T) {
	tests := []struct {
		name string
		to   string
		text string
		want counts
	}{
		{"a message", "SHOP", "Where is my parcel?", counts{stored: 1, callbacks: 1}},
		{"HELP", "SHOP", "help", counts{stored: 1, callbacks: 1, answers: 1}},
		{"STOP", "SHOP", "STOP", counts{stored: 1, callbacks: 1, answers: 1, optedOut: true}},
		{"START without a confirmation", "SHOP", "start", counts{stored: 1, callbacks: 1}},
		{"to a sender no application has", "OTHER", "STOP", counts{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPipeline(t)
			m := Message{ID: "r-" + tt.name, Provider: "gw", From: "+4915100000001", To: tt.to, Text: tt.text, At: p.now}
			for range 3 {
				if err := p.applier.Apply(context.Background(), m); err != nil {
					t.Fatal(err)
				}
			}
			if got := p.counts(t, m.From); got != tt.want {
				t.Fatalf("after applying it 3 times: %+v, want %+v", got, tt.want)
			}
			if tt.to == "OTHER" {
				u, err := p.st.ListUnmatched(context.Background(), 10)
				if err != nil || len(u) != 1 || u[0].Keyword != "stop" {
					t.Fatalf("unmatched: %+v %v, want the reply once", u, err)
				}
			}
		})
	}
}

// TestForwardedReplyIsSignedLikeAStatusCallback: the task Forward queues
// is one outcomes.Callbacks (the status callbacks' handler) POSTs, signed
// the Standard Webhooks way with the application's callback secret, with
// the reply's event id as webhook-id.
func TestForwardedReplyIsSignedLikeAStatusCallback(t *testing.T) {
	p := newPipeline(t)
	var mu sync.Mutex
	var got []Event
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id, err := signature.VerifyStandard(shopSecret, r.Header, body, time.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var ev Event
		if err := json.Unmarshal(body, &ev); err != nil || ev.EventID != id {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, ev)
		mu.Unlock()
	}))
	defer srv.Close()
	m := store.InboundMessage{ID: "r1", Provider: "gw", From: "+4915100000001", To: "SHOP", Text: "hi", At: p.now, Keyword: ""}
	if err := p.applier.Callbacks.Forward(context.Background(), shop, srv.URL, m, nil); err != nil {
		t.Fatal(err)
	}
	pending, err := p.insp.ListPendingTasks(tasks.CallbackQueue)
	if err != nil || len(pending) != 1 {
		t.Fatalf("pending callbacks: %v %v", pending, err)
	}
	h := &outcomes.Callbacks{Client: srv.Client(), Secret: func(app string) string { return map[string]string{shop: shopSecret}[app] }, Log: zap.NewNop()}
	if err := h.ProcessTask(context.Background(), asynq.NewTask(pending[0].Type, pending[0].Payload)); err != nil {
		t.Fatalf("the status callbacks' handler refused the task: %v", err)
	}
	want := EventOf(shop, m, nil)
	if len(got) != 1 || got[0] != want {
		t.Fatalf("received %+v, want %+v", got, want)
	}
}
