package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/inbound"
	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/testenv"
	"github.com/smsfleet/smsfleet/receipts"
)

// TestConnLandingWithoutKafka: replies are applied directly and what
// cannot be read is unlandable for good; receipts go to the delivery
// state, intermediate ones move nothing.
func TestConnLandingWithoutKafka(t *testing.T) {
	t.Parallel()
	st := store.New(testenv.NewRedis(t).Client(t), time.Hour)
	var applied []inbound.Message
	failApply := false
	apply := func(_ context.Context, m inbound.Message) error {
		if failApply {
			return errors.New("redis: connection refused")
		}
		applied = append(applied, m)
		return nil
	}
	l := newConnLanding(config.Config{DefaultRegion: "DE"}, st, apply, nil, zap.NewNop())
	ctx := context.Background()
	for _, tc := range []struct {
		name       string
		r          provider.Reply
		fail       bool
		unlandable bool
		err        bool
	}{
		{"a reply", provider.Reply{From: "+4915112345678", To: "SHOP", Text: "STOP"}, false, false, false},
		{"a national number read in the default region", provider.Reply{From: "015112345678", To: "SHOP", Text: "hi"}, false, false, false},
		{"no number", provider.Reply{From: "SHOPFAN", To: "SHOP", Text: "STOP"}, false, true, true},
		{"no recipient", provider.Reply{From: "+4915112345678", Text: "STOP"}, false, true, true},
		{"Redis down", provider.Reply{From: "+4915112345678", To: "SHOP", Text: "STOP"}, true, false, true},
	} {
		failApply = tc.fail
		before := len(applied)
		err := l.reply(ctx, "smsc", tc.r)
		if (err != nil) != tc.err || errors.Is(err, provider.ErrUnlandable) != tc.unlandable {
			t.Errorf("%s: %v, want error %v (unlandable %v)", tc.name, err, tc.err, tc.unlandable)
		}
		if got := len(applied) - before; got != map[bool]int{true: 0, false: 1}[tc.err] {
			t.Errorf("%s: applied %d", tc.name, got)
		}
	}
	if applied[0].From != "+4915112345678" || applied[0].Provider != "smsc" || applied[1].From != "+4915112345678" {
		t.Errorf("applied %+v", applied)
	}
	// An intermediate receipt moves nothing; a final one for an unknown
	// reference is parked by the store, without error.
	for _, r := range []sms.Receipt{{Provider: "smsc", Ref: "MSG1", Status: "enroute"}, {Provider: "smsc", Ref: "MSG1", Status: sms.Delivered}} {
		if err := l.receipt(ctx, r); err != nil {
			t.Errorf("receipt %s: %v", r.Status, err)
		}
	}
	if err := l.Close(); err != nil {
		t.Error(err)
	}
}

// TestConnLandingIntoKafka: with Kafka, a reply and a final receipt are on
// their topics when reply and receipt return.
func TestConnLandingIntoKafka(t *testing.T) {
	t.Parallel()
	k := testenv.NewKafka(t, 1, receipts.Topic, inbound.Topic)
	cfg := config.Config{Kafka: config.Kafka{Brokers: []string{k.Addr}}}
	cfg.Inbound.Topic = inbound.Topic
	l := newConnLanding(cfg, nil, func(context.Context, inbound.Message) error {
		t.Error("applied directly with Kafka configured")
		return nil
	}, nil, zap.NewNop())
	defer l.Close()
	ctx := context.Background()
	if err := l.reply(ctx, "smsc", provider.Reply{From: "+4915112345678", To: "SHOP", Text: "STOP"}); err != nil {
		t.Fatal(err)
	}
	if err := l.receipt(ctx, sms.Receipt{Provider: "smsc", Ref: "MSG7", Status: sms.Delivered}); err != nil {
		t.Fatal(err)
	}
	var reply inbound.Message
	readOne(t, k.Addr, inbound.Topic, &reply)
	if reply.From != "+4915112345678" || reply.Text != "STOP" || reply.Provider != "smsc" {
		t.Errorf("inbound record %+v", reply)
	}
	var rec map[string]any
	readOne(t, k.Addr, receipts.Topic, &rec)
	if len(rec) == 0 {
		t.Error("no receipt record")
	}
}

// readOne reads the first record of topic into v.
func readOne(t *testing.T, addr, topic string, v any) {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, MaxWait: 50 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := r.ReadMessage(ctx)
	if err != nil {
		t.Fatalf("reading %s: %v", topic, err)
	}
	if err := json.Unmarshal(m.Value, v); err != nil {
		t.Fatalf("%s record %s: %v", topic, m.Value, err)
	}
}
