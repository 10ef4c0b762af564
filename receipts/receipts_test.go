package receipts

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/signature"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/store/storetest"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// ingressServer is the ingress on a real Kafka, remembering webhook ids
// in replays (nil: a fresh redis-server's store).
func ingressServer(t *testing.T, k *testenv.Kafka, replays provider.Replays) *httptest.Server {
	t.Helper()
	p := NewProducer([]string{k.Addr}, Topic)
	t.Cleanup(func() { _ = p.Close() })
	if replays == nil {
		replays = store.New(testenv.NewRedis(t).Client(t), time.Hour)
	}
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	public := "http://" + srv.Listener.Addr().String()
	NewIngress([]provider.Source{
		{Name: "tw", Kind: "twilio", Secret: "tw-token", PublicURL: public},
		{Name: "gw", Kind: "json", Secret: "gw-secret"},
	}, p, replays, nil, zap.NewNop()).Register(mux)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func postTwilio(t *testing.T, srv *httptest.Server, name string, fields url.Values, token string) int {
	t.Helper()
	u := srv.URL + "/webhooks/dlr/" + name
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(fields.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if token != "" {
		req.Header.Set("X-Twilio-Signature", provider.TwilioSignature(token, u, fields))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// postJSON posts a JSON receipt signed the Standard Webhooks way as id,
// at ts (zero: now).
func postJSON(t *testing.T, srv *httptest.Server, body, secret, id string, ts time.Time) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/dlr/gw", strings.NewReader(body))
	if ts.IsZero() {
		ts = time.Now()
	}
	if secret != "" {
		if err := signature.SetStandard(req.Header, secret, id, ts, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// readAll reads up to want records of every partition of topic, from the
// start, through a fresh consumer group; it waits at most 2 s.
func readAll(t *testing.T, k *testenv.Kafka, topic string, want int) []sms.Receipt {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{k.Addr}, Topic: topic, GroupID: "read-" + t.Name(), MaxWait: 50 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var out []sms.Receipt
	for len(out) < want {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			break
		}
		rec, err := decode(m.Value)
		if err != nil {
			rec = sms.Receipt{Status: sms.Status("unparseable: " + string(m.Value))}
		}
		out = append(out, rec)
	}
	return out
}

func TestIngress(t *testing.T) {
	k := testenv.NewKafka(t, 1, Topic, TopicDLQ)
	srv := ingressServer(t, k, nil)
	ok := url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"delivered"}}
	tests := []struct {
		name string
		send func() int
		want int
	}{
		{"signed twilio callback", func() int { return postTwilio(t, srv, "tw", ok, "tw-token") }, 204},
		{"undelivered with its error", func() int {
			return postTwilio(t, srv, "tw", url.Values{"MessageSid": {"SM2"}, "MessageStatus": {"undelivered"}, "ErrorCode": {"30003"}}, "tw-token")
		}, 204},
		{"missing signature", func() int { return postTwilio(t, srv, "tw", ok, "") }, 401},
		{"wrong signature", func() int { return postTwilio(t, srv, "tw", ok, "other-token") }, 401},
		{"unknown provider", func() int { return postTwilio(t, srv, "nope", ok, "tw-token") }, 404},
		{"missing status", func() int { return postTwilio(t, srv, "tw", url.Values{"MessageSid": {"SM3"}}, "tw-token") }, 400},
		{"signed JSON", func() int {
			return postJSON(t, srv, `{"ref":"G1","status":"DELIVRD"}`, "gw-secret", "msg_1", time.Time{})
		}, 204},
		{"JSON bad signature", func() int { return postJSON(t, srv, `{"ref":"G1","status":"delivered"}`, "nope", "msg_2", time.Time{}) }, 401},
		{"JSON malformed", func() int { return postJSON(t, srv, `{"ref":`, "gw-secret", "msg_3", time.Time{}) }, 400},
		// Replays (issue 13 item 5): answered, so a provider's retry stops,
		// but landed nowhere.
		{"twilio receipt replayed", func() int { return postTwilio(t, srv, "tw", ok, "tw-token") }, 204},
		{"JSON receipt replayed (same webhook-id)", func() int {
			return postJSON(t, srv, `{"ref":"G1","status":"DELIVRD"}`, "gw-secret", "msg_1", time.Time{})
		}, 204},
		{"JSON receipt 6 minutes old", func() int {
			return postJSON(t, srv, `{"ref":"G9","status":"DELIVRD"}`, "gw-secret", "msg_9", time.Now().Add(-6*time.Minute))
		}, 401},
		{"JSON receipt without Standard Webhooks headers (legacy X-Signature)", func() int {
			body := `{"ref":"G8","status":"DELIVRD"}`
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/dlr/gw", strings.NewReader(body))
			req.Header.Set("X-Signature", signature.Sign("gw-secret", []byte(body)))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}, 401},
		{"twilio receipt signed for a forged Host", func() int {
			u := srv.URL + "/webhooks/dlr/tw"
			req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(ok.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Forwarded-Host", "evil.example")
			req.Header.Set("X-Twilio-Signature", provider.TwilioSignature("tw-token", "http://evil.example/webhooks/dlr/tw", ok))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}, 401},
	}
	for _, tt := range tests {
		if got := tt.send(); got != tt.want {
			t.Errorf("%s: HTTP %d, want %d", tt.name, got, tt.want)
		}
	}
	recs := readAll(t, k, Topic, 4)
	if len(recs) != 3 {
		t.Fatalf("Kafka holds %d records, want 3 (refused requests produce nothing): %+v", len(recs), recs)
	}
	if recs[1].Ref != "SM2" || recs[1].Status != "undelivered" || recs[1].ErrorCode != "30003" || recs[2].Status != "delivered" || recs[2].Provider != "gw" {
		t.Fatalf("records %+v", recs)
	}
}

func TestIngressAnswers503WhenKafkaIsDown(t *testing.T) {
	k, err := testenv.StartKafka(1, Topic)
	if err != nil {
		t.Fatal(err)
	}
	r := testenv.NewRedis(t)
	rdb := r.Client(t)
	srv := ingressServer(t, k, store.New(rdb, time.Hour))
	k.Close()
	if got := postTwilio(t, srv, "tw", url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"delivered"}}, "tw-token"); got != 503 {
		t.Fatalf("with Kafka down: HTTP %d, want 503 so the provider retries", got)
	}
	// Its id was not marked, so the provider's retry is taken, not
	// refused as a replay.
	if n, err := rdb.Keys(context.Background(), "sf:wh:*").Result(); err != nil || len(n) != 0 {
		t.Fatalf("ids marked after the 503: %v %v", n, err)
	}
}

// TestIngressAnswers503WhenRedisIsDown: a verified receipt whose id cannot
// be checked (Redis unreachable) is answered 503 and not landed: it is
// never taken unchecked.
func TestIngressAnswers503WhenRedisIsDown(t *testing.T) {
	k := testenv.NewKafka(t, 1, Topic)
	r := testenv.NewRedis(t)
	st := store.New(r.Client(t), time.Hour)
	r.Stop()
	srv := ingressServer(t, k, st)
	if got := postTwilio(t, srv, "tw", url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"delivered"}}, "tw-token"); got != 503 {
		t.Fatalf("with Redis down: HTTP %d, want 503", got)
	}
	if got := postJSON(t, srv, `{"ref":"G1","status":"delivered"}`, "gw-secret", "msg_1", time.Time{}); got != 503 {
		t.Fatalf("JSON with Redis down: HTTP %d, want 503", got)
	}
	if recs := readAll(t, k, Topic, 1); len(recs) != 0 {
		t.Fatalf("landed %+v with Redis down", recs)
	}
}

// sentSMS creates a direct message whose SMS was sent with ref.
func sentSMS(t *testing.T, st *store.Store, code, to, ref string) {
	t.Helper()
	ctx := context.Background()
	m := &store.Message{App: "SHOP1-00001", Code: code, Type: sms.Transactional, Content: `"x"`, SendAt: time.Now(), Validity: time.Hour, Direct: true, ChunkSize: 10}
	if _, _, err := st.CreateMessage(ctx, m, []store.Audience{{Phones: []string{to}, SendAt: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	id := storetest.SMSID(t, st, code, to)
	l, _, _ := st.LoadSMS(ctx, id)
	if _, _, ok, err := st.Begin(ctx, id, l); !ok || err != nil {
		t.Fatalf("begin: %v %v", ok, err)
	}
	if ref != "" {
		if _, err := st.MarkSent(ctx, id, store.Outcome{Provider: "tw", ProviderRef: ref, Segments: 1}); err != nil {
			t.Fatal(err)
		}
	}
}

func status(t *testing.T, st *store.Store, code string) map[sms.Status]int64 {
	t.Helper()
	m, err := st.GetMessage(context.Background(), "", code)
	if err != nil {
		t.Fatal(err)
	}
	return m.Counts
}

func TestConsumerAppliesOnceParksAndDeadLetters(t *testing.T) {
	k := testenv.NewKafka(t, 3, Topic, TopicDLQ)
	r := testenv.NewRedis(t)
	st := store.New(r.Client(t), 24*time.Hour)
	if err := st.LoadScripts(context.Background()); err != nil {
		t.Fatal(err)
	}
	sentSMS(t, st, "AAAA-00000000-0000000A", "+4915112000010", "R-A")
	sentSMS(t, st, "AAAA-00000000-0000000B", "+4915112000011", "R-B")
	sentSMS(t, st, "AAAA-00000000-0000000C", "+4915112000012", "") // its sent write comes later

	p := NewProducer([]string{k.Addr}, Topic)
	defer p.Close()
	ctx := context.Background()
	recs := []sms.Receipt{
		{Provider: "tw", Ref: "R-A", Status: "sent"},
		{Provider: "tw", Ref: "R-A", Status: "delivered"},
		{Provider: "tw", Ref: "R-B", Status: "undelivered", ErrorCode: "30003"},
		{Provider: "tw", Ref: "R-B", Status: "delivered"}, // after undelivered: moves nothing
		{Provider: "tw", Ref: "R-C", Status: "delivered"}, // before its sent write: parked
	}
	// Everything twice: a replayed topic changes no counter.
	if err := p.Produce(ctx, append(recs, recs...)...); err != nil {
		t.Fatal(err)
	}
	if err := p.w.WriteMessages(ctx, kafka.Message{Key: []byte("x"), Value: []byte("not json")}); err != nil {
		t.Fatal(err)
	}

	run := func(d time.Duration) {
		dlq := NewProducer([]string{k.Addr}, TopicDLQ)
		defer dlq.Close()
		c := NewConsumer([]string{k.Addr}, Topic, "smsfleet-receipts", dlq, st, time.Hour, zap.NewNop())
		defer c.Close()
		cctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		if err := c.Run(cctx); err != nil {
			t.Fatal(err)
		}
	}
	run(3 * time.Second)
	if got := status(t, st, "AAAA-00000000-0000000A"); got[sms.Delivered] != 1 || got[sms.Sent] != 0 {
		t.Fatalf("A: %v", got)
	}
	if got := status(t, st, "AAAA-00000000-0000000B"); got[sms.Undelivered] != 1 || got[sms.Delivered] != 0 {
		t.Fatalf("B: %v", got)
	}
	if got := status(t, st, "AAAA-00000000-0000000C"); got[sms.Delivered] != 0 {
		t.Fatalf("C before its sent write: %v", got)
	}
	// The sent write for C comes: its parked receipt applies with it.
	id := storetest.SMSID(t, st, "AAAA-00000000-0000000C", "+4915112000012")
	if _, err := st.MarkSent(ctx, id, store.Outcome{Provider: "tw", ProviderRef: "R-C", Segments: 1}); err != nil {
		t.Fatal(err)
	}
	if got := status(t, st, "AAAA-00000000-0000000C"); got[sms.Delivered] != 1 {
		t.Fatalf("C after its sent write: %v", got)
	}
	if dead := readAll(t, k, TopicDLQ, 1); len(dead) != 1 {
		t.Fatalf("dead letters: %d, want 1", len(dead))
	}
	// A second consumer of the group resumes after the committed offsets:
	// new receipts apply, old ones are not re-read into double counts.
	sentSMS(t, st, "AAAA-00000000-0000000D", "+4915112000013", "R-D")
	if err := p.Produce(ctx, sms.Receipt{Provider: "tw", Ref: "R-D", Status: "delivered"}); err != nil {
		t.Fatal(err)
	}
	run(3 * time.Second)
	if got := status(t, st, "AAAA-00000000-0000000D"); got[sms.Delivered] != 1 {
		t.Fatalf("D after restart: %v", got)
	}
	if got := status(t, st, "AAAA-00000000-0000000A"); got[sms.Delivered] != 1 {
		t.Fatalf("A double-counted after restart: %v", got)
	}
}

// TestConsumerKilledMidBatchLosesNothingAndCountsNothingTwice kills a
// consumer while a batch is half applied (the first half written, the
// rest not, no offset committed), then starts another member of the
// group: it gets the whole batch again, and the status machine makes the
// replayed half move nothing.
func TestConsumerKilledMidBatchLosesNothingAndCountsNothingTwice(t *testing.T) {
	k := testenv.NewKafka(t, 3, Topic, TopicDLQ)
	r := testenv.NewRedis(t)
	st := store.New(r.Client(t), 24*time.Hour)
	ctx := context.Background()
	if err := st.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	const n = 300
	code := "KILL-00000000-00000000"
	recs := sentWithReceipts(t, st, code, n)
	p := NewProducer([]string{k.Addr}, Topic)
	defer p.Close()
	if err := p.Produce(ctx, recs...); err != nil {
		t.Fatal(err)
	}

	consume := func(crash func([]kafka.Message) bool, d time.Duration) {
		c := NewConsumer([]string{k.Addr}, Topic, "smsfleet-receipts", nil, st, time.Hour, zap.NewNop())
		defer c.Close()
		c.batch, c.crash = 40, crash
		cctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		if err := c.Run(cctx); err != nil {
			t.Fatal(err)
		}
	}
	batches, halfApplied := 0, 0
	consume(func(msgs []kafka.Message) bool {
		batches++
		if batches < 3 {
			return false
		}
		// The third batch: half of its writes land, then the process dies.
		half := msgs[:len(msgs)/2]
		if err := (&Consumer{st: st, parkTTL: time.Hour, log: zap.NewNop()}).apply(ctx, half); err != nil {
			t.Fatal(err)
		}
		halfApplied = len(half)
		return true
	}, 10*time.Second)
	if batches != 3 || halfApplied == 0 {
		t.Fatalf("the consumer was not killed mid-batch: %d batches, %d half-applied", batches, halfApplied)
	}
	mid := status(t, st, code)
	if mid[sms.Sent] == 0 {
		t.Fatalf("every receipt applied before the kill: %v", mid)
	}
	// A new member of the group resumes from the last commit.
	consume(nil, 3*time.Second)
	got := status(t, st, code)
	if got[sms.Delivered] != n-n/10 || got[sms.Undelivered] != n/10 || got[sms.Sent] != 0 {
		t.Fatalf("after the restart: %v, want %d delivered, %d undelivered, none left sent", got, n-n/10, n/10)
	}
	hourly := int64(0)
	mm, err := st.GetMessage(ctx, "", code)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range mm.Hourly["delivery"] {
		hourly += c
	}
	if hourly != n-n/10 {
		t.Fatalf("hourly delivery count %d, want %d: a replayed receipt counted twice", hourly, n-n/10)
	}
}

// sentWithReceipts creates the message code with n recipients, each sent
// through provider tw with ref K-i, and returns a receipt for each: every
// tenth undelivered, the others delivered.
func sentWithReceipts(t *testing.T, st *store.Store, code string, n int) []sms.Receipt {
	t.Helper()
	ctx := context.Background()
	m := &store.Message{App: "SHOP1-00001", Code: code, Type: sms.Transactional, Content: `"x"`, SendAt: time.Now(), Validity: time.Hour, ChunkSize: 100}
	phones := make([]string, n)
	for i := range phones {
		phones[i] = fmt.Sprintf("+49151120%05d", i)
	}
	if _, _, err := st.CreateMessage(ctx, m, []store.Audience{{Phones: phones, SendAt: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	ids, _, err := st.Materialize(ctx, *m, phones, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var recs []sms.Receipt
	for i, id := range ids {
		l, _, _ := st.LoadSMS(ctx, id)
		if _, _, ok, err := st.Begin(ctx, id, l); !ok || err != nil {
			t.Fatalf("begin: %v %v", ok, err)
		}
		ref := fmt.Sprintf("K-%d", i)
		if _, err := st.MarkSent(ctx, id, store.Outcome{Provider: "tw", ProviderRef: ref, Segments: 1}); err != nil {
			t.Fatal(err)
		}
		status := sms.Delivered
		if i%10 == 0 {
			status = sms.Undelivered
		}
		recs = append(recs, sms.Receipt{Provider: "tw", Ref: ref, Status: status})
	}
	return recs
}
