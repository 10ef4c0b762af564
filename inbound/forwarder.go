package inbound

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/backoff"
	"github.com/smsfleet/smsfleet/internal/metrics"
	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/sms"
)

// Forwarder is the inbound pipeline's entry for replies that arrive on a
// provider's connection (SMPP deliver_sm that is no receipt):
// provider.Deps.OnReply. The connection has already acknowledged them
// (there is no one to ask to retry), so, as receipts.Forwarder does for
// receipts, replies are buffered, produced to Kafka in batches with
// retries and, when Kafka stays unreachable, the buffer is full or no
// Kafka is configured, applied directly: none is lost for want of Kafka.
//
// It is a lifecycle component: Run lands what is submitted until its
// context ends; Close stops taking replies and lands what is buffered,
// whether or not Run still runs.
type Forwarder struct {
	p       *Producer // nil: no Kafka, apply directly
	ch      chan Message
	apply   func(context.Context, Message) error
	region  string
	now     func() time.Time
	log     *zap.Logger
	running sync.WaitGroup
	once    sync.Once
	mu      sync.RWMutex // held for reading while submitting; Close takes it
	closed  bool
}

// forwardBatch is the most replies one produce call carries.
const forwardBatch = 500

// produceRetry paces the produce attempts of one batch.
var produceRetry = backoff.Policy{Base: 200 * time.Millisecond, Max: time.Second}

// NewForwarder returns a forwarder producing with p (nil: applying every
// reply directly), buffering up to buffer replies, applying through apply
// when Kafka cannot take them. region reads national numbers; now stamps
// the replies (nil: the wall clock).
func NewForwarder(p *Producer, buffer int, apply func(context.Context, Message) error, region string, now func() time.Time, log *zap.Logger) *Forwarder {
	if now == nil {
		now = time.Now
	}
	return &Forwarder{p: p, ch: make(chan Message, buffer), apply: apply, region: region, now: now, log: log}
}

// Name names the forwarder in the supervisor's logs.
func (f *Forwarder) Name() string { return "connection-replies-forwarder" }

// OnReply is provider.Deps.OnReply: it normalises the reply and hands it
// over without blocking the connection's reader. A reply that cannot be
// read (no phone number, bad encoding, oversize) is dropped with a
// warning: the connection acknowledged it already, and it could never be
// applied.
func (f *Forwarder) OnReply(prov string, r provider.Reply) {
	id, err := IDOf(prov, "") // an MO carries no id of the provider's to dedupe on
	if err == nil {
		var m Message
		if m, err = Normalize(prov, r, f.region, f.now(), id); err == nil {
			f.submit(m)
			return
		}
	}
	f.log.Warn("inbound reply from a provider connection refused", zap.String("provider", prov), zap.String("from", sms.MaskPhone(r.From)), zap.Error(err))
}

func (f *Forwarder) submit(m Message) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if !f.closed {
		select {
		case f.ch <- m:
			return
		default:
		}
	}
	f.log.Warn("inbound reply buffer full or closed: applying directly", zap.String("provider", m.Provider))
	f.applyAll([]Message{m})
}

// Run lands submitted replies in batches until ctx is done or the
// forwarder is closed; what is still buffered then is Close's.
func (f *Forwarder) Run(ctx context.Context) error {
	f.running.Add(1)
	defer f.running.Done()
	for {
		select {
		case <-ctx.Done():
			return nil
		case first, ok := <-f.ch:
			if !ok {
				return nil
			}
			f.land(f.batch(first))
		}
	}
}

func (f *Forwarder) batch(first Message) []Message {
	batch := []Message{first}
	for len(batch) < forwardBatch {
		select {
		case m, ok := <-f.ch:
			if !ok {
				return batch
			}
			batch = append(batch, m)
		default:
			return batch
		}
	}
	return batch
}

func (f *Forwarder) land(batch []Message) {
	if f.p != nil {
		for attempt := range 3 {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := f.p.Produce(ctx, batch...)
			cancel()
			if err == nil {
				return
			}
			f.log.Warn("inbound replies not landed in Kafka", zap.Int("replies", len(batch)), zap.Int("attempt", attempt+1), zap.Error(err))
			// Already acknowledged to the provider: shutdown does not cut
			// these retries short, the direct apply below must still run.
			produceRetry.Wait(context.Background(), attempt)
		}
		f.log.Error("Kafka unreachable: applying inbound replies directly", zap.Int("replies", len(batch)))
	}
	f.applyAll(batch)
}

func (f *Forwarder) applyAll(batch []Message) {
	for _, m := range batch {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := f.apply(ctx, m)
		cancel()
		if err != nil {
			f.log.Error("inbound reply lost: neither Kafka nor Redis took it", zap.String("provider", m.Provider), zap.String("id", m.ID),
				zap.String("from", sms.MaskPhone(m.From)), zap.Error(err))
			continue
		}
		metrics.InboundLanded.WithLabelValues("direct").Inc()
	}
}

// Close stops taking replies and returns once the buffered ones are
// landed, by Run if it still runs and by Close otherwise.
func (f *Forwarder) Close() error {
	f.once.Do(func() {
		f.mu.Lock()
		f.closed = true
		close(f.ch)
		f.mu.Unlock()
	})
	for first := range f.ch {
		f.land(f.batch(first))
	}
	f.running.Wait()
	if f.p != nil {
		return f.p.Close()
	}
	return nil
}
