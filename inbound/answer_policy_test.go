package inbound

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/metrics"
	"github.com/smsfleet/smsfleet/internal/outcomes"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/tasks"
)

const shopStart = "Shop: welcome back."

// answerTexts are the texts of the answers written for the shop, oldest
// first.
func (p *pipeline) answerTexts(t *testing.T) []string {
	t.Helper()
	msgs, _, err := p.st.ListMessages(context.Background(), shop, 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(msgs))
	for i, m := range msgs {
		var s string
		if err := json.Unmarshal([]byte(m.Content), &s); err != nil {
			t.Fatal(err)
		}
		out[len(msgs)-1-i] = s
	}
	return out
}

// step is the stored reply's answer step ("" none, a code, or a skip).
func (p *pipeline) step(t *testing.T, id string) string {
	t.Helper()
	m, err := p.st.GetInbound(context.Background(), shop, id)
	if err != nil {
		t.Fatal(err)
	}
	return m.Steps[store.StepAutoReply]
}

// TestKeywordAnswersAreThrottled: a phone texting a keyword over and
// over gets the application's answer_limits' worth of answers per
// window (defaults: one HELP per 10 minutes, one STOP or START
// confirmation per hour); each skipped answer is recorded on its stored
// reply and counted; STOP and START still apply every time; another
// phone has its own window.
func TestKeywordAnswersAreThrottled(t *testing.T) {
	tests := []struct {
		name   string
		limits config.AnswerLimits
		texts  []string // the replies, a millisecond apart
		// then, after wait, one more of the first text
		wait        time.Duration
		wantAnswers int // answers in all, the last reply's included
		wantSkipped float64
	}{
		{"HELP 1,000 times: one answer", config.AnswerLimits{}, repeat("HELP", 1000), 0, 1, 999},
		{"HELP again after the default 10 minutes", config.AnswerLimits{}, repeat("HELP", 3), 10 * time.Minute, 2, 2},
		{"an application's own limit: 3 HELP per hour", config.AnswerLimits{Help: config.AnswerLimit{Max: 3, Per: time.Hour}}, repeat("HELP", 5), 0, 3, 2},
		{"STOP START STOP START: one confirmation each per hour", config.AnswerLimits{}, []string{"STOP", "START", "STOP", "START"}, 0, 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPipeline(t)
			p.shop.StartConfirmation = shopStart
			p.shop.AnswerLimits = tt.limits
			phone := "+4915100000001"
			ctx := context.Background()
			before := totalSkipped()
			texts := tt.texts
			if tt.wait > 0 {
				texts = append(texts, tt.texts[0])
			}
			for i, text := range texts {
				if tt.wait > 0 && i == len(texts)-1 {
					p.now = p.now.Add(tt.wait)
				}
				m := Message{ID: fmt.Sprintf("r%d", i), Provider: "gw", From: phone, To: "SHOP", Text: text, At: p.now}
				if err := p.applier.Apply(ctx, m); err != nil {
					t.Fatal(err)
				}
				// The keyword applied whatever its answer.
				if text == "STOP" || text == "START" {
					if got := p.counts(t, phone).optedOut; got != (text == "STOP") {
						t.Fatalf("after %s #%d: opted out %v", text, i, got)
					}
				}
				if i > 0 && SkipReason(p.step(t, m.ID)) == "" && len(p.answerTexts(t)) > tt.wantAnswers {
					t.Fatalf("reply %d answered beyond the limit", i)
				}
				p.now = p.now.Add(time.Millisecond)
			}
			if got := len(p.answerTexts(t)); got != tt.wantAnswers {
				t.Fatalf("%d answers, want %d", got, tt.wantAnswers)
			}
			if got := totalSkipped() - before; got != tt.wantSkipped {
				t.Fatalf("smsfleet_inbound_answers_skipped_total{reason=throttled} grew by %v, want %v", got, tt.wantSkipped)
			}
			// Every reply is kept; each is either answered or says why not.
			var skipped float64
			for i := range texts {
				st := p.step(t, fmt.Sprintf("r%d", i))
				switch {
				case st == "":
					t.Fatalf("reply r%d records neither an answer nor a skip", i)
				case SkipReason(st) == SkipThrottled:
					skipped++
				case SkipReason(st) != "":
					t.Fatalf("reply r%d skipped for %q", i, SkipReason(st))
				}
			}
			if skipped != tt.wantSkipped {
				t.Fatalf("%v replies record a throttled answer, want %v", skipped, tt.wantSkipped)
			}
			// Another phone has its own window.
			other := Message{ID: "other", Provider: "gw", From: "+4915100000002", To: "SHOP", Text: tt.texts[0], At: p.now}
			if err := p.applier.Apply(ctx, other); err != nil {
				t.Fatal(err)
			}
			if SkipReason(p.step(t, "other")) != "" {
				t.Fatal("another phone's keyword was throttled by this one's")
			}
		})
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func totalSkipped() float64 {
	var n float64
	for _, kw := range []string{KeywordHelp, KeywordStop, KeywordStart} {
		n += testutil.ToFloat64(metrics.InboundAnswersSkipped.WithLabelValues(kw, SkipThrottled))
	}
	return n
}

// TestStartLeftOptedOutByTheAPIIsNotConfirmed: START removes the phone's
// own STOP, never the application's API opt-out; with one standing the
// phone is not told it is opted in: nothing is sent (the stored reply
// records still_opted_out, counted), or start_blocked_text when set. An
// API opt-out of another sender does not block it.
func TestStartLeftOptedOutByTheAPIIsNotConfirmed(t *testing.T) {
	tests := []struct {
		name        string
		apiSender   string // "" none; "*" the whole application
		blockedText string
		wantText    string // the answer; "" none
		wantSkip    string
	}{
		{"no API opt-out: confirmed", "", "", shopStart, ""},
		{"an API opt-out of the application: nothing", "*", "", "", SkipStillOptedOut},
		{"an API opt-out of that sender: nothing", "SHOP", "", "", SkipStillOptedOut},
		{"an API opt-out of another sender: confirmed", "+4930000000", "", shopStart, ""},
		{"blocked, with start_blocked_text: that text", "*", "Shop: you are still opted out.", "Shop: you are still opted out.", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPipeline(t)
			p.shop.StartConfirmation = shopStart
			p.shop.StartBlockedText = tt.blockedText
			ctx := context.Background()
			phone := "+4915100000001"
			if tt.apiSender != "" {
				sender := tt.apiSender
				if sender == "*" {
					sender = ""
				}
				if _, err := p.st.AddOptOut(ctx, shop, phone, sender); err != nil {
					t.Fatal(err)
				}
			}
			before := testutil.ToFloat64(metrics.InboundAnswersSkipped.WithLabelValues(KeywordStart, SkipStillOptedOut))
			for range 2 { // a redelivery changes nothing
				if err := p.applier.Apply(ctx, Message{ID: "r1", Provider: "gw", From: phone, To: "SHOP", Text: "START", At: p.now}); err != nil {
					t.Fatal(err)
				}
			}
			got := p.answerTexts(t)
			if tt.wantText == "" && len(got) != 0 || tt.wantText != "" && (len(got) != 1 || got[0] != tt.wantText) {
				t.Fatalf("answers %q, want %q", got, tt.wantText)
			}
			if r := SkipReason(p.step(t, "r1")); r != tt.wantSkip {
				t.Fatalf("recorded skip %q, want %q", r, tt.wantSkip)
			}
			wantCount := 0.0
			if tt.wantSkip != "" {
				wantCount = 1
			}
			if d := testutil.ToFloat64(metrics.InboundAnswersSkipped.WithLabelValues(KeywordStart, SkipStillOptedOut)) - before; d != wantCount {
				t.Fatalf("still_opted_out counted %v times, want %v", d, wantCount)
			}
		})
	}
}

// TestForwardedReplyCarriesTheHashWithHashNumbers: an application with
// hash_numbers gets its replies' callback with from_hash (the HMAC of its
// outcome events) and no number anywhere in the queued task.
func TestForwardedReplyCarriesTheHashWithHashNumbers(t *testing.T) {
	p := newPipeline(t)
	key := []byte(strings.Repeat("k", 32))
	p.shop.NumberHashKey = key
	phone := "+4915100000001"
	if err := p.applier.Apply(context.Background(), Message{ID: "r1", Provider: "gw", From: phone, To: "SHOP", Text: "Where is it?", At: p.now}); err != nil {
		t.Fatal(err)
	}
	pending, err := p.insp.ListPendingTasks(tasks.CallbackQueue)
	if err != nil || len(pending) != 1 {
		t.Fatalf("pending callbacks: %v %v", pending, err)
	}
	if strings.Contains(string(pending[0].Payload), phone) || strings.Contains(string(pending[0].Payload), phone[1:]) {
		t.Fatalf("the callback task holds the number: %s", pending[0].Payload)
	}
	var task callbackTask
	var ev Event
	if err := json.Unmarshal(pending[0].Payload, &task); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(task.Body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.From != "" || ev.FromHash != outcomes.HashPhone(key, phone) || ev.Text != "Where is it?" {
		t.Fatalf("event %+v, want from_hash %s and no from", ev, outcomes.HashPhone(key, phone))
	}
	if n, h := PhoneOf(phone, nil); n != phone || h != "" {
		t.Fatalf("without a key: %q %q", n, h)
	}
}
