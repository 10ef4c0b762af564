package e2e_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/e2e/harness"
	"github.com/smsfleet/smsfleet/internal/fleet"
	"github.com/smsfleet/smsfleet/internal/kafkax"
	"github.com/smsfleet/smsfleet/internal/outcomes"
	"github.com/smsfleet/smsfleet/internal/testenv"
	"github.com/smsfleet/smsfleet/receipts"
)

const shopCallbackSecret = "shop-callback-secret"

// callbackReceiver is a customer's status-callback endpoint: it checks
// each signature, fails the first `failFirst` POSTs of every event, and
// records what it accepted.
type callbackReceiver struct {
	t         *testing.T
	failFirst int
	mu        sync.Mutex
	tries     map[string]int // event id -> POSTs
	accepted  map[string][]outcomes.Event
	srv       *httptest.Server
}

func newCallbackReceiver(t *testing.T, failFirst int) *callbackReceiver {
	c := &callbackReceiver{t: t, failFirst: failFirst, tries: map[string]int{}, accepted: map[string][]outcomes.Event{}}
	c.srv = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *callbackReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	// Checked the way a receiver would, without smsfleet's code.
	mac := hmac.New(sha256.New, []byte(shopCallbackSecret))
	mac.Write(body)
	if r.Header.Get("X-Smsfleet-Signature") != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
		c.t.Errorf("callback with a bad signature %q", r.Header.Get("X-Smsfleet-Signature"))
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var e outcomes.Event
	if err := json.Unmarshal(body, &e); err != nil {
		c.t.Errorf("callback body %s: %v", body, err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tries[e.EventID]++
	if c.tries[e.EventID] <= c.failFirst {
		http.Error(w, "receiver down", http.StatusServiceUnavailable)
		return
	}
	c.accepted[e.EventID] = append(c.accepted[e.EventID], e)
}

func (c *callbackReceiver) snapshot() (map[string]int, map[string][]outcomes.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	tries, acc := map[string]int{}, map[string][]outcomes.Event{}
	for k, v := range c.tries {
		tries[k] = v
	}
	for k, v := range c.accepted {
		acc[k] = append([]outcomes.Event(nil), v...)
	}
	return tries, acc
}

// readOutcomes reads the outcomes topic from the start until want events
// came or wait passed, and then a little longer to catch duplicates.
func readOutcomes(t *testing.T, k *testenv.Kafka, want int, wait time.Duration) []outcomes.Event {
	t.Helper()
	var out []outcomes.Event
	for _, m := range readRecords(t, k, outcomes.Topic, want, wait) {
		var e outcomes.Event
		if err := json.Unmarshal(m.Value, &e); err != nil {
			t.Fatalf("outcome %s: %v", m.Value, err)
		}
		if string(m.Key) != e.SMSID {
			t.Fatalf("outcome keyed %q, want its SMS id %q", m.Key, e.SMSID)
		}
		// Every record says what it is (docs/events/README.md).
		for h, v := range map[string]string{"ce_id": e.EventID, "event-type": "sms.outcome", "ce_type": "io.smsfleet.sms.outcome.v1", "content-type": "application/json"} {
			if got, _ := kafkax.Header(m.Headers, h); got != v {
				t.Fatalf("outcome %s: header %s = %q, want %q", m.Value, h, got, v)
			}
		}
		out = append(out, e)
	}
	return out
}

// readRecords reads topic from the start until want records came or wait
// passed, and then a little longer (half a second without a record) to
// catch duplicates.
func readRecords(t *testing.T, k *testenv.Kafka, topic string, want int, wait time.Duration) []kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{k.Addr}, Topic: topic, GroupID: "read-" + t.Name(), MaxWait: 50 * time.Millisecond})
	defer r.Close()
	deadline := time.Now().Add(wait)
	var out []kafka.Message
	for time.Now().Before(deadline) {
		limit := time.Until(deadline)
		if len(out) >= want {
			limit = 500 * time.Millisecond
		}
		ctx, cancel := context.WithTimeout(context.Background(), limit)
		m, err := r.ReadMessage(ctx)
		cancel()
		if err != nil {
			if len(out) >= want {
				break
			}
			continue
		}
		out = append(out, m)
	}
	return out
}

// TestOutcomesAndSignedCallbacksArriveOncePerSMS sends to a delivered, an
// undelivered, a never-receipted and an opted-out number, with a callback
// receiver that fails the first two POSTs of every event: each SMS's
// outcome reaches the topic once and the receiver once, signed.
func TestOutcomesAndSignedCallbacksArriveOncePerSMS(t *testing.T) {
	k := testenv.NewKafka(t, 3, receipts.Topic, receipts.TopicDLQ, outcomes.Topic)
	rcv := newCallbackReceiver(t, 2)
	e := harness.New(t, withReceiptsOn(k), func(c *config.Config, _ *fleet.Roles) {
		c.Callback = config.Callback{Secrets: map[string]string{harness.ShopApp: shopCallbackSecret}, MaxAttempts: 6, Timeout: 2 * time.Second, AllowPrivate: true}
		allowHTTPCallbacks(c, harness.ShopApp) // the receiver is an httptest server
	})
	e.Sim.SendReceipts(20*time.Millisecond, e.Config.SimulatorSecret)
	delivered, undelivered, silent, optedOut := "+4915112340005", "+4915112340002", "+4915112340003", "+4915112340007"
	e.Register(harness.ShopApp, harness.ShopToken, delivered, undelivered, silent, optedOut)
	if _, err := e.Fleet.Store().AddOptOut(context.Background(), harness.ShopApp, optedOut, ""); err != nil {
		t.Fatal(err)
	}
	code := e.Send(map[string]any{
		"send_date": "now", "content": "x", "devices": []string{delivered, undelivered, silent, optedOut},
		"delivery_wait": 1, "status_callback": rcv.srv.URL + "/sms-status?shop=1",
	})
	e.WaitCounts(code, map[string]int64{"delivered": 1, "undelivered": 1, "unknown": 1, "suppressed": 1}, 20*time.Second)

	want := map[string]struct{ status, reason, detail string }{
		delivered:   {"delivered", "", ""},
		undelivered: {"undelivered", "operator_undelivered", "30003"},
		silent:      {"unknown", "not_delivered_within_wait", ""},
		optedOut:    {"suppressed", "opted_out", ""},
	}
	events := readOutcomes(t, k, len(want), 20*time.Second)
	if len(events) != len(want) {
		t.Fatalf("%d outcome events on the topic, want %d (one per SMS): %+v", len(events), len(want), events)
	}
	for _, ev := range events {
		w, ok := want[ev.Phone]
		if !ok || ev.Status != w.status || ev.Reason != w.reason || ev.Detail != w.detail || ev.MessageCode != code || ev.Application != harness.ShopApp || ev.Time.IsZero() {
			t.Errorf("outcome %+v, want %+v", ev, w)
		}
	}

	// The callbacks: retried past the receiver's failures, then accepted once.
	harness.Eventually(t, 20*time.Second, func() bool {
		_, acc := rcv.snapshot()
		return len(acc) == len(want)
	}, func() string {
		tries, acc := rcv.snapshot()
		return fmt.Sprintf("callbacks accepted: %v of %d (tries %v)", len(acc), len(want), tries)
	})
	time.Sleep(500 * time.Millisecond) // long enough for a duplicate to show
	tries, acc := rcv.snapshot()
	for id, evs := range acc {
		if len(evs) != 1 {
			t.Errorf("event %s accepted %d times", id, len(evs))
		}
		if tries[id] != 3 {
			t.Errorf("event %s POSTed %d times, want 3 (two failures, then accepted)", id, tries[id])
		}
		w := want[evs[0].Phone]
		if evs[0].Status != w.status || evs[0].Reason != w.reason || evs[0].Detail != w.detail {
			t.Errorf("callback %+v, want %+v", evs[0], w)
		}
	}
}

// allowHTTPCallbacks lets app's status_callback URLs be plain http
// (callback_allow_http), as a test receiver is.
func allowHTTPCallbacks(c *config.Config, app string) {
	for i := range c.Applications {
		if c.Applications[i].Code == app {
			c.Applications[i].CallbackAllowHTTP = true
		}
	}
}
