package receipts

import (
	"context"
	"fmt"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/metrics"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

func gaugeValue(t *testing.T, labels ...string) float64 {
	t.Helper()
	vec := metrics.ConsumerLag
	if len(labels) == 2 {
		vec = metrics.PartitionLag
	}
	g := vec.WithLabelValues(labels...)
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

// The lag is the group's backlog on every partition, whether or not a
// consumer runs: N receipts produced with no consumer at all are N behind
// (kafka-go's reader stats, the old source, read 0 here: no reader, no
// partition read); after a consumer committed them and stopped, the M
// produced next are exactly M behind, spread over the partitions.
func TestLagIsCommittedOffsetsAgainstLogEndOnEveryPartition(t *testing.T) {
	const parts = 3
	k := testenv.NewKafka(t, parts, Topic, TopicDLQ)
	r := testenv.NewRedis(t)
	st := store.New(r.Client(t), 24*time.Hour)
	ctx := context.Background()
	if err := st.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	p := NewProducer([]string{k.Addr}, Topic)
	defer p.Close()
	produce := func(from, n int) {
		t.Helper()
		recs := make([]sms.Receipt, n)
		for i := range recs {
			recs[i] = sms.Receipt{Provider: "tw", Ref: fmt.Sprintf("LAG-%d", from+i), Status: sms.Delivered}
		}
		if err := p.Produce(ctx, recs...); err != nil {
			t.Fatal(err)
		}
	}
	const group = "smsfleet-receipts-lag"
	meter := &LagMeter{Brokers: []string{k.Addr}, Topic: Topic, Group: group}

	const n = 57
	produce(0, n)
	lag, err := meter.Measure(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if lag != n || gaugeValue(t, Topic) != n {
		t.Fatalf("lag %d (metric %v) with no consumer ever run, want %d", lag, gaugeValue(t, Topic), n)
	}
	var sum float64
	for i := range parts {
		sum += gaugeValue(t, Topic, fmt.Sprint(i))
	}
	if sum != n {
		t.Fatalf("per-partition lags sum to %v, want %d", sum, n)
	}

	c := NewConsumer([]string{k.Addr}, Topic, group, nil, st, time.Hour, zap.NewNop())
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(cctx) }()
	deadline := time.Now().Add(60 * time.Second) // bounds a broken test only
	for {
		lag, err := meter.Measure(ctx)
		if err == nil && lag == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the consumer never caught up: lag %d, %v", lag, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	_ = c.Close()

	const m = 23
	produce(n, m)
	if lag, err := meter.Measure(ctx); err != nil || lag != m || gaugeValue(t, Topic) != m {
		t.Fatalf("lag %d (metric %v), %v after the consumer committed %d and stopped; want the %d produced since", lag, gaugeValue(t, Topic), err, n, m)
	}
}
