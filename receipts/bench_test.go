package receipts

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// BenchmarkConsumer measures receipts applied per second by one consumer
// (batch fetch, one pipelined Redis round trip per batch through the
// status machine, synchronous commit) against a bare kafka-go group
// reader that only fetches and commits the same topic, in the same run,
// on kfake and a real redis-server.
//
//	go test -run '^$' -bench BenchmarkConsumer -benchtime 20000x ./receipts/
func BenchmarkConsumer(b *testing.B) {
	n := max(b.N, 1000)
	k := testenv.NewKafka(b, 3, Topic)
	r := testenv.NewRedis(b)
	st := store.New(r.Client(b), 24*time.Hour)
	ctx := context.Background()
	if err := st.LoadScripts(ctx); err != nil {
		b.Fatal(err)
	}
	// n SMS sent, each with its reference; one delivered receipt each.
	code := "BENC-00000000-00000001"
	phones := make([]string, n)
	for i := range phones {
		phones[i] = fmt.Sprintf("+4915112%06d", i)
	}
	m := &store.Message{App: "SHOP1-00001", Code: code, Type: sms.Transactional, Content: `"x"`, SendAt: time.Now(), Validity: time.Hour, ChunkSize: 1000}
	if _, _, err := st.CreateMessage(ctx, m, []store.Audience{{Phones: phones, SendAt: time.Now()}}); err != nil {
		b.Fatal(err)
	}
	p := NewProducer([]string{k.Addr}, Topic)
	defer p.Close()
	recs := make([]sms.Receipt, 0, 1000)
	for i := 0; i < n; i += 1000 {
		part := phones[i:min(i+1000, n)]
		ids, _, err := st.Materialize(ctx, *m, part, time.Now().Add(time.Hour))
		if err != nil {
			b.Fatal(err)
		}
		recs = recs[:0]
		for j := range part {
			ref := fmt.Sprintf("R%d", i+j)
			id := ids[j]
			l, _, _ := st.LoadSMS(ctx, id)
			if _, _, _, err := st.Begin(ctx, id, l); err != nil {
				b.Fatal(err)
			}
			if _, err := st.MarkSent(ctx, id, store.Outcome{Provider: "tw", ProviderRef: ref, Segments: 1}); err != nil {
				b.Fatal(err)
			}
			recs = append(recs, sms.Receipt{Provider: "tw", Ref: ref, Status: "delivered", At: time.Now()})
		}
		if err := p.Produce(ctx, recs...); err != nil {
			b.Fatal(err)
		}
	}

	b.ResetTimer()
	// Baseline: a bare group reader, fetch and commit in the same batches.
	bare := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{k.Addr}, Topic: Topic, GroupID: "bare", MaxWait: 100 * time.Millisecond})
	start := time.Now()
	for read := 0; read < n; {
		m, err := bare.FetchMessage(ctx)
		if err != nil {
			b.Fatal(err)
		}
		batch := []kafka.Message{m}
		more, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
		for len(batch) < 500 {
			m, err := bare.FetchMessage(more)
			if err != nil {
				break
			}
			batch = append(batch, m)
		}
		cancel()
		if err := bare.CommitMessages(ctx, batch...); err != nil {
			b.Fatal(err)
		}
		read += len(batch)
	}
	bareRate := float64(n) / time.Since(start).Seconds()
	_ = bare.Close()

	// The consumer, until every SMS is delivered.
	c := NewConsumer([]string{k.Addr}, Topic, "smsfleet-receipts", nil, st, time.Hour, zap.NewNop())
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	start = time.Now()
	go func() { done <- c.Run(cctx) }()
	for {
		got, err := st.GetMessage(ctx, "", code)
		if err != nil {
			b.Fatal(err)
		}
		if got.Counts[sms.Delivered] == int64(n) {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	rate := float64(n) / time.Since(start).Seconds()
	cancel()
	<-done
	_ = c.Close()
	b.ReportMetric(rate, "receipts/s")
	b.ReportMetric(bareRate, "bare-reads/s")
	b.ReportMetric(rate/bareRate, "ratio")
}
