package outcomes

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/smsfleet/smsfleet/internal/kafkax"
	"github.com/smsfleet/smsfleet/internal/metrics"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/store/storetest"
	"github.com/smsfleet/smsfleet/internal/tasks"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

const (
	app      = "SHOP1-00001"
	cbURL    = "https://hooks.example.com/sms?x=1"
	eventAt  = 1764590400000 // 2025-12-01 12:00:00 UTC, in ms
	attempts = 5
	cbTime   = 3 * time.Second
)

// rig is a store and asynq on one redis-server, and a kfake broker with
// the outcome topic.
type rig struct {
	store *store.Store
	queue *asynq.Client
	insp  *asynq.Inspector
	kafka *testenv.Kafka
	at    time.Time
	rdb   *redis.Client
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := testenv.NewRedis(t)
	rdb := r.Client(t)
	at := time.UnixMilli(eventAt).UTC()
	st := store.New(rdb, 24*time.Hour, store.WithClock(func() time.Time { return at }))
	if err := st.LoadScripts(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &rig{store: st, queue: asynq.NewClientFromRedisClient(rdb), insp: asynq.NewInspectorFromRedisClient(rdb),
		kafka: testenv.NewKafka(t, 1, Topic), at: at, rdb: rdb}
}

// failed writes a direct message to phone and moves its SMS to failed
// (provider p, reason provider_rejected, detail "boom"): one outcome event. It returns the SMS id.
func (g *rig) failed(t *testing.T, code, phone, callback string) string {
	t.Helper()
	ctx := context.Background()
	m := &store.Message{App: app, Code: code, Type: sms.Transactional, Content: `"hi"`, SendAt: g.at, Validity: time.Hour,
		Direct: true, ChunkSize: 10, StatusCallback: callback}
	if _, created, err := g.store.CreateMessage(ctx, m, []store.Audience{{Zone: "UTC", SendAt: g.at, Phones: []string{phone}}}); err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	id := storetest.SMSID(t, g.store, code, phone)
	l, ok, err := g.store.LoadSMS(ctx, id)
	if err != nil || !ok {
		t.Fatalf("load: %v %v", ok, err)
	}
	if _, _, ok, err := g.store.Begin(ctx, id, l); err != nil || !ok {
		t.Fatalf("begin: %v %v", ok, err)
	}
	if moved, err := g.store.MarkFailed(ctx, id, store.Outcome{Provider: "p", Error: "provider_rejected: boom", Operator: "op1"}); err != nil || !moved {
		t.Fatalf("fail: %v %v", moved, err)
	}
	return id
}

// run starts r until the returned stop is called; stop waits for Run to
// return.
func run(t *testing.T, r *Relay) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// waitFor polls cond until it holds; the deadline only bounds a broken
// test, it asserts nothing about speed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (g *rig) backlog(t *testing.T) int64 {
	t.Helper()
	n, err := g.store.OutcomeBacklog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// read reads n messages of the outcome topic from its start.
func (g *rig) read(t *testing.T, n int) []kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{g.kafka.Addr}, Topic: Topic, Partition: 0, MaxWait: 50 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(kafka.FirstOffset); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := make([]kafka.Message, 0, n)
	for range n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read message %d of %d: %v", len(out)+1, n, err)
		}
		out = append(out, m)
	}
	return out
}

// topicEnd is the offset after the last message of the topic.
func (g *rig) topicEnd(t *testing.T) int64 {
	t.Helper()
	conn, err := kafka.DialLeader(context.Background(), "tcp", g.kafka.Addr, Topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, last, err := conn.ReadOffsets()
	if err != nil {
		t.Fatal(err)
	}
	return last
}

// callbackTasks lists the callback queue's tasks in any state.
func (g *rig) callbackTasks(t *testing.T) []*asynq.TaskInfo {
	t.Helper()
	var out []*asynq.TaskInfo
	for _, list := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
		g.insp.ListPendingTasks, g.insp.ListScheduledTasks, g.insp.ListRetryTasks, g.insp.ListActiveTasks,
	} {
		infos, err := list(tasks.CallbackQueue)
		if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
			t.Fatal(err)
		}
		out = append(out, infos...)
	}
	return out
}

// wantEvent checks one Kafka message against the event of a failed SMS.
func wantEvent(t *testing.T, m kafka.Message, id, phone string) {
	t.Helper()
	if string(m.Key) != id {
		t.Fatalf("key %q, want the SMS id %q", m.Key, id)
	}
	var got map[string]any
	if err := json.Unmarshal(m.Value, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"event_id": id + ":failed", "message_code": sms.MessageCodeOf(id), "sms_id": id, "application": app, "phone": phone,
		"status": "failed", "reason": "provider_rejected", "detail": "boom", "provider": "p", "time": "2025-12-01T12:00:00Z",
	}
	headers := map[string]string{
		"content-type": "application/json", "event-type": "sms.outcome", "schema-version": "1", "ce_id": id + ":failed",
		"ce_source": "/smsfleet/outcomes", "ce_type": "io.smsfleet.sms.outcome.v1", "ce_specversion": "1.0", "ce_time": "2025-12-01T12:00:00Z",
	}
	for k, v := range headers {
		if h, _ := kafkax.Header(m.Headers, k); h != v {
			t.Fatalf("header %s = %q, want %q", k, h, v)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("event %s, want exactly the fields %v", m.Value, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("event %s: %s is %v, want %v", m.Value, k, got[k], v)
		}
	}
}

func TestRelayPublishesCallsBackAndAcks(t *testing.T) {
	g := newRig(t)
	withCB := g.failed(t, "AAAA-00000000-00000001", "+4915112000001", cbURL)
	plain := g.failed(t, "AAAA-00000000-00000002", "+4915112000002", "")
	if n := g.backlog(t); n != 2 {
		t.Fatalf("backlog %d before the relay, want 2", n)
	}
	r := &Relay{Store: g.store, Writer: kafkax.NewWriter([]string{g.kafka.Addr}, Topic), Queue: g.queue,
		MaxAttempts: attempts, Timeout: cbTime, Log: zap.NewNop(), OrphanAfter: time.Hour}
	defer r.Writer.Close()
	stop := run(t, r)
	msgs := g.read(t, 2)
	waitFor(t, "the backlog to be acknowledged", func() bool { return g.backlog(t) == 0 })
	stop()

	sort.Slice(msgs, func(i, j int) bool { return string(msgs[i].Key) < string(msgs[j].Key) })
	wantEvent(t, msgs[0], withCB, "+4915112000001")
	wantEvent(t, msgs[1], plain, "+4915112000002")
	if end := g.topicEnd(t); end != 2 {
		t.Fatalf("topic holds %d messages, want 2", end)
	}

	cbs := g.callbackTasks(t)
	if len(cbs) != 1 {
		t.Fatalf("%d callback tasks, want 1 (only one notification asked)", len(cbs))
	}
	cb := cbs[0]
	if cb.ID != "cb:"+withCB+":failed" || cb.Type != tasks.TypeCallback || cb.MaxRetry != attempts-1 || cb.Timeout != cbTime {
		t.Fatalf("callback task %+v", cb)
	}
	var ct callbackTask
	if err := json.Unmarshal(cb.Payload, &ct); err != nil {
		t.Fatal(err)
	}
	if ct.URL != cbURL || ct.App != app || string(ct.Body) != string(msgs[0].Value) {
		t.Fatalf("callback payload %s; want the URL, the application and the Kafka event %s", cb.Payload, msgs[0].Value)
	}
}

func TestRelayWithoutKafkaStillCallsBack(t *testing.T) {
	g := newRig(t)
	id := g.failed(t, "AAAA-00000000-00000003", "+4915112000003", cbURL)
	stop := run(t, &Relay{Store: g.store, Queue: g.queue, MaxAttempts: attempts, Timeout: cbTime, Log: zap.NewNop()})
	waitFor(t, "the backlog to be acknowledged", func() bool { return g.backlog(t) == 0 })
	stop()
	if cbs := g.callbackTasks(t); len(cbs) != 1 || cbs[0].ID != "cb:"+id+":failed" {
		t.Fatalf("callback tasks %+v", cbs)
	}
	if end := g.topicEnd(t); end != 0 {
		t.Fatalf("topic holds %d messages with no writer", end)
	}
}

// TestRelayAcksOnlyAfterKafkaAndAnotherTakesOver: a relay whose Kafka is
// down acknowledges nothing; once it is dead, a second relay claims its
// pending entries, publishes them and acknowledges them, and the callback
// the first one enqueued is not enqueued twice.
func TestRelayAcksOnlyAfterKafkaAndAnotherTakesOver(t *testing.T) {
	g := newRig(t)
	withCB := g.failed(t, "AAAA-00000000-00000004", "+4915112000004", cbURL)
	plain := g.failed(t, "AAAA-00000000-00000005", "+4915112000005", "")

	dead := testenv.NewKafka(t, 1, Topic)
	deadAddr := dead.Addr
	dead.Close()
	core, logs := observer.New(zapcore.WarnLevel)
	down := &kafka.Writer{Addr: kafka.TCP(deadAddr), Topic: Topic, MaxAttempts: 1, WriteTimeout: time.Second}
	defer down.Close()
	a := &Relay{Store: g.store, Writer: down, Queue: g.queue, MaxAttempts: attempts, Timeout: cbTime, Log: zap.New(core), OrphanAfter: time.Hour}
	stopA := run(t, a)
	// Its own failed batch would be retried after OrphanAfter (an hour
	// here): one failed round is all it gets.
	waitFor(t, "a failed round", func() bool {
		return logs.FilterMessage("outcome events not relayed; retrying").Len() >= 1
	})
	stopA() // the relay dies with its entries pending
	if n := g.backlog(t); n != 2 {
		t.Fatalf("backlog %d after failed rounds, want 2: nothing may be acknowledged before Kafka has it", n)
	}
	if end := g.topicEnd(t); end != 0 {
		t.Fatalf("topic holds %d messages", end)
	}

	b := &Relay{Store: g.store, Writer: kafkax.NewWriter([]string{g.kafka.Addr}, Topic), Queue: g.queue,
		MaxAttempts: attempts, Timeout: cbTime, Log: zap.NewNop(), OrphanAfter: time.Millisecond}
	defer b.Writer.Close()
	stopB := run(t, b)
	msgs := g.read(t, 2)
	waitFor(t, "the taken-over backlog to be acknowledged", func() bool { return g.backlog(t) == 0 })
	stopB()
	sort.Slice(msgs, func(i, j int) bool { return string(msgs[i].Key) < string(msgs[j].Key) })
	wantEvent(t, msgs[0], withCB, "+4915112000004")
	wantEvent(t, msgs[1], plain, "+4915112000005")
	if cbs := g.callbackTasks(t); len(cbs) != 1 || cbs[0].ID != "cb:"+withCB+":failed" {
		t.Fatalf("callback tasks %+v, want the one of %s once", cbs, withCB)
	}
}

// Redis loses its data under a running relay (FLUSHALL: the stream and
// its consumer group are gone, NOGROUP). The relay makes the group again
// and publishes the events appended afterwards, and counts it. Before the
// fix every round failed with NOGROUP for ever and nothing more was
// published.
func TestRelayRecreatesItsGroupAfterRedisLostItsData(t *testing.T) {
	g := newRig(t)
	before := g.failed(t, "AAAA-00000000-00000011", "+4915112000011", "")
	r := &Relay{Store: g.store, Writer: kafkax.NewWriter([]string{g.kafka.Addr}, Topic), Queue: g.queue,
		MaxAttempts: attempts, Timeout: cbTime, Log: zap.NewNop(), OrphanAfter: time.Hour}
	defer r.Writer.Close()
	recreated := recreatedCount(t)
	run(t, r)
	wantEvent(t, g.read(t, 1)[0], before, "+4915112000011")
	waitFor(t, "the first event to be acknowledged", func() bool { return g.backlog(t) == 0 })

	if err := g.rdb.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	after := []string{
		g.failed(t, "AAAA-00000000-00000012", "+4915112000012", cbURL),
		g.failed(t, "AAAA-00000000-00000013", "+4915112000013", ""),
	}
	msgs := g.read(t, 3)[1:]
	waitFor(t, "the new events to be acknowledged", func() bool { return g.backlog(t) == 0 })
	sort.Slice(msgs, func(i, j int) bool { return string(msgs[i].Key) < string(msgs[j].Key) })
	wantEvent(t, msgs[0], after[0], "+4915112000012")
	wantEvent(t, msgs[1], after[1], "+4915112000013")
	if end := g.topicEnd(t); end != 3 {
		t.Fatalf("topic holds %d messages, want 3", end)
	}
	if cbs := g.callbackTasks(t); len(cbs) != 1 || cbs[0].ID != "cb:"+after[0]+":failed" {
		t.Fatalf("callback tasks %v, want the one of %s", cbs, after[0])
	}
	if d := recreatedCount(t) - recreated; d < 1 {
		t.Fatalf("smsfleet_outcomes_group_recreated_total rose by %v, want at least 1", d)
	}
}

func recreatedCount(t *testing.T) float64 {
	t.Helper()
	var m dto.Metric
	if err := metrics.OutcomeGroupRecreated.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
