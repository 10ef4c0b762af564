package kafkax_test

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/inbound"
	"github.com/smsfleet/smsfleet/internal/kafkax"
	"github.com/smsfleet/smsfleet/internal/outcomes"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/store/storetest"
	"github.com/smsfleet/smsfleet/internal/testenv"
	"github.com/smsfleet/smsfleet/receipts"
)

const (
	app          = "SHOP1-00001"
	inboundTopic = "smsfleet.inbound"
)

// schema compiles docs/events/<name>.schema.json, asserting formats
// (date-time) as the schemas mean them.
func schema(t *testing.T, name string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	s, err := c.Compile(filepath.Join("..", "..", "docs", "events", name+".schema.json"))
	if err != nil {
		t.Fatalf("schema %s: %v", name, err)
	}
	return s
}

// readAll reads n records of topic from its start with kafka-go.
func readAll(t *testing.T, addr, topic string, n int) []kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, Partition: 0, MaxWait: 50 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(kafka.FirstOffset); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := make([]kafka.Message, 0, n)
	for range n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("%s: read record %d of %d: %v", topic, len(out)+1, n, err)
		}
		out = append(out, m)
	}
	return out
}

// checkRecord validates m's value against sch and its headers against
// the event type and source it must have.
func checkRecord(t *testing.T, m kafka.Message, sch *jsonschema.Schema, eventType, source string) {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(m.Value))
	if err != nil {
		t.Fatalf("%s record %s: not JSON: %v", m.Topic, m.Value, err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Errorf("%s record %s does not match its schema: %v", m.Topic, m.Value, err)
	}
	want := map[string]string{
		"content-type": "application/json", "event-type": eventType, "schema-version": "1",
		"ce_source": source, "ce_type": "io.smsfleet." + eventType + ".v1", "ce_specversion": "1.0",
	}
	for k, v := range want {
		if got, _ := kafkax.Header(m.Headers, k); got != v {
			t.Errorf("%s record %s: header %s = %q, want %q", m.Topic, m.Value, k, got, v)
		}
	}
	if id, _ := kafkax.Header(m.Headers, "ce_id"); id == "" {
		t.Errorf("%s record %s: no ce_id", m.Topic, m.Value)
	}
	at, _ := kafkax.Header(m.Headers, "ce_time")
	if _, err := time.Parse(time.RFC3339, at); err != nil {
		t.Errorf("%s record: ce_time %q is not RFC 3339: %v", m.Topic, at, err)
	}
}

// TestProducedRecordsMatchTheirSchemas produces records through the real
// code paths (the receipts producer and consumer's dead-lettering, the
// inbound producer, the outcome relay) onto kfake, reads them back with
// kafka-go, and checks each against docs/events/*.schema.json and the
// headers every record carries.
func TestProducedRecordsMatchTheirSchemas(t *testing.T) {
	ctx := context.Background()
	k := testenv.NewKafka(t, 1, receipts.Topic, receipts.TopicDLQ, inboundTopic, outcomes.Topic)
	brokers := []string{k.Addr}
	rdb := testenv.NewRedis(t).Client(t)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	st := store.New(rdb, 24*time.Hour, store.WithClock(func() time.Time { return at }))
	if err := st.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}

	// Receipts: two through the producer, one foreign record that is no
	// receipt, for the consumer to dead-letter.
	rp := receipts.NewProducer(brokers, receipts.Topic)
	defer rp.Close()
	if err := rp.Produce(ctx,
		sms.Receipt{Provider: "sim-a", Ref: "R1", Status: sms.Delivered, At: at},
		sms.Receipt{Provider: "sim-a", Ref: "R2", Status: sms.Undelivered, ErrorCode: "30003", At: at}); err != nil {
		t.Fatal(err)
	}
	foreign := kafkax.NewWriter(brokers, receipts.Topic)
	defer foreign.Close()
	if err := foreign.WriteMessages(ctx, kafka.Message{Key: []byte("x"), Value: []byte("not a receipt"), Headers: []kafka.Header{{Key: "trace", Value: []byte("t1")}}}); err != nil {
		t.Fatal(err)
	}
	dlq := receipts.NewProducer(brokers, receipts.TopicDLQ)
	defer dlq.Close()
	cons := receipts.NewConsumer(brokers, receipts.Topic, "schema-test", dlq, st, time.Minute, zap.NewNop())
	cctx, stopConsumer := context.WithCancel(ctx)
	consumed := make(chan error, 1)
	go func() { consumed <- cons.Run(cctx) }()

	// An inbound reply.
	ip := inbound.NewProducer(brokers, inboundTopic)
	defer ip.Close()
	if err := ip.Produce(ctx, inbound.Message{ID: "abc123", Provider: "sim-a", From: "+4915112340003", To: "SHOP", Text: "STOP", At: at}); err != nil {
		t.Fatal(err)
	}

	// Outcomes: a failed SMS and a canceled scheduled one, relayed.
	failedSMS(t, st, at, "AAAA-00000000-000000A1", "+4915112340004")
	canceledSMS(t, st, at, "AAAA-00000000-000000A2", "+4915112340005")
	w := kafkax.NewWriter(brokers, outcomes.Topic)
	defer w.Close()
	relay := &outcomes.Relay{Store: st, Writer: w, Log: zap.NewNop(), OrphanAfter: time.Hour}
	rctx, stopRelay := context.WithCancel(ctx)
	relayed := make(chan error, 1)
	go func() { relayed <- relay.Run(rctx) }()

	receiptSchema, outcomeSchema := schema(t, "receipt"), schema(t, "outcome")
	for _, m := range readAll(t, k.Addr, receipts.Topic, 2) { // the foreign one is no record of ours
		checkRecord(t, m, receiptSchema, "sms.receipt", "/smsfleet/receipts")
	}
	for _, m := range readAll(t, k.Addr, inboundTopic, 1) {
		checkRecord(t, m, schema(t, "inbound"), "sms.inbound", "/smsfleet/inbound")
	}
	statuses := map[string]string{}
	for _, m := range readAll(t, k.Addr, outcomes.Topic, 2) {
		checkRecord(t, m, outcomeSchema, "sms.outcome", "/smsfleet/outcomes")
		id, _ := kafkax.Header(m.Headers, "ce_id")
		statuses[id[strings.LastIndexByte(id, ':')+1:]] = string(m.Value)
	}
	if !strings.Contains(statuses["failed"], `"reason":"provider_rejected","detail":"400 invalid To"`) || statuses["canceled"] == "" {
		t.Errorf("outcome events %v, want a failed one with its code and detail and a canceled one", statuses)
	}
	dead := readAll(t, k.Addr, receipts.TopicDLQ, 1)[0]
	wantDead := map[string]string{"dlq-original-topic": receipts.Topic, "dlq-original-partition": "0", "dlq-original-offset": "2",
		"trace": "t1", "event-type": "deadletter", "ce_id": receipts.Topic + "/0/2", "ce_source": receipts.DeadLetterSource}
	for h, v := range wantDead {
		if got, _ := kafkax.Header(dead.Headers, h); got != v {
			t.Errorf("dead-letter header %s = %q, want %q", h, got, v)
		}
	}
	if why, _ := kafkax.Header(dead.Headers, "dlq-error"); !strings.HasPrefix(why, "receipt record:") || string(dead.Value) != "not a receipt" {
		t.Errorf("dead letter %q with dlq-error %q", dead.Value, why)
	}
	stopConsumer()
	stopRelay()
	for _, done := range []chan error{consumed, relayed} {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// TestOutcomeSchemaListsTheReasonCodes: the schema's reason enum is the
// list of reasons.go, so neither drifts.
func TestOutcomeSchemaListsTheReasonCodes(t *testing.T) {
	sch := schema(t, "outcome")
	var enum []string
	for _, alt := range sch.Properties["reason"].AnyOf {
		if alt.Enum != nil {
			for _, v := range alt.Enum.Values {
				enum = append(enum, v.(string))
			}
		}
	}
	var want []string
	for _, c := range outcomes.ReasonCodes() {
		if !strings.HasPrefix(c, "quota_") {
			want = append(want, c)
		}
	}
	slices.Sort(enum)
	if !slices.Equal(enum, want) {
		t.Fatalf("outcome.schema.json reason enum %v, want %v", enum, want)
	}
	// The schema refuses what it must.
	base := `{"event_id":"S.1:failed","message_code":"S","sms_id":"S.1","application":"A","phone":"+4915112340004","status":"failed","time":"2026-03-01T12:00:00Z"`
	cases := []struct {
		name, doc string
		ok        bool
	}{
		{"a listed code", base + `,"reason":"provider_rejected","detail":"x"}`, true},
		{"a quota code", base + `,"reason":"quota_daily"}`, true},
		{"free text as reason", base + `,"reason":"validity ended"}`, false},
		{"an unknown field", base + `,"extra":1}`, false},
		{"no time", `{"event_id":"S.1:failed","message_code":"S","sms_id":"S.1","application":"A","phone":"+4915112340004","status":"failed"}`, false},
		{"a bad time", strings.Replace(base, "2026-03-01T12:00:00Z", "yesterday", 1) + `}`, false},
	}
	for _, c := range cases {
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(c.doc))
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(inst); (err == nil) != c.ok {
			t.Errorf("%s: valid=%v, want %v (%v)", c.name, err == nil, c.ok, err)
		}
	}
}

func begun(t *testing.T, st *store.Store, at time.Time, code, phone string) string {
	t.Helper()
	ctx := context.Background()
	m := &store.Message{App: app, Code: code, Type: sms.Transactional, Content: `"hi"`, SendAt: at, Validity: time.Hour, Direct: true, ChunkSize: 10}
	if _, created, err := st.CreateMessage(ctx, m, []store.Audience{{Zone: "UTC", SendAt: at, Phones: []string{phone}}}); err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	id := storetest.SMSID(t, st, code, phone)
	l, ok, err := st.LoadSMS(ctx, id)
	if err != nil || !ok {
		t.Fatalf("load: %v %v", ok, err)
	}
	if _, _, ok, err := st.Begin(ctx, id, l); err != nil || !ok {
		t.Fatalf("begin: %v %v", ok, err)
	}
	return id
}

func failedSMS(t *testing.T, st *store.Store, at time.Time, code, phone string) {
	t.Helper()
	id := begun(t, st, at, code, phone)
	if moved, err := st.MarkFailed(context.Background(), id, store.Outcome{Provider: "sim-a", Error: "provider_rejected: 400 invalid To"}); err != nil || !moved {
		t.Fatalf("fail: %v %v", moved, err)
	}
}

func canceledSMS(t *testing.T, st *store.Store, at time.Time, code, phone string) {
	t.Helper()
	ctx := context.Background()
	later := at.Add(time.Hour)
	m := &store.Message{App: app, Code: code, Type: sms.Transactional, Content: `"hi"`, SendAt: later, Validity: time.Hour, ChunkSize: 10}
	if _, created, err := st.CreateMessage(ctx, m, []store.Audience{{Zone: "UTC", SendAt: later, Phones: []string{phone}}}); err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	got, err := st.GetMessage(ctx, "", code)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CancelMessage(ctx, got); err != nil {
		t.Fatal(err)
	}
}
