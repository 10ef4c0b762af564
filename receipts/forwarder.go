package receipts

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/backoff"
	"github.com/smsfleet/smsfleet/internal/sms"
)

// Forwarder lands receipts that arrive on a provider connection (SMPP
// deliver_sm) rather than a webhook in Kafka, like the webhooks do. The
// connection has already acknowledged them (gosmpp answers deliver_sm
// itself), so there is no one to ask to retry: receipts are buffered,
// produced in batches with retries, and when Kafka stays unreachable (or
// the buffer is full) applied to the delivery state directly, so none is
// lost for want of Kafka.
//
// It is a lifecycle component: Run produces what is submitted until its
// context ends; Close stops taking receipts and flushes what is buffered,
// whether or not Run is running (so a receipt submitted between the
// supervisor's stop and the SMPP clients' close is still landed).
type Forwarder struct {
	p        *Producer
	ch       chan sms.Receipt
	fallback func(context.Context, sms.Receipt) error
	log      *zap.Logger
	running  sync.WaitGroup // Run calls in progress; Close waits for them
	once     sync.Once
	mu       sync.RWMutex // held for reading while submitting; Close takes it to stop submits
	closed   bool
}

// forwardBatch is the most receipts one produce call carries.
const forwardBatch = 500

// produceRetry paces the produce attempts of one batch before it is
// applied directly instead.
var produceRetry = backoff.Policy{Base: 200 * time.Millisecond, Max: time.Second}

// NewForwarder returns a forwarder producing with p, buffering up to
// buffer receipts, applying through fallback when Kafka cannot take them.
// Nothing is produced until Run runs (or Close flushes).
func NewForwarder(p *Producer, buffer int, fallback func(context.Context, sms.Receipt) error, log *zap.Logger) *Forwarder {
	return &Forwarder{p: p, ch: make(chan sms.Receipt, buffer), fallback: fallback, log: log}
}

// Name names the forwarder in the supervisor's logs.
func (f *Forwarder) Name() string { return "smpp-receipts-forwarder" }

// Submit hands over one receipt without blocking the connection's reader.
func (f *Forwarder) Submit(r sms.Receipt) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if !f.closed {
		select {
		case f.ch <- r:
			return
		default:
		}
	}
	f.log.Warn("receipt buffer full or closed: applying directly", zap.String("provider", r.Provider))
	f.apply([]sms.Receipt{r})
}

// Run produces submitted receipts in batches until ctx is done or the
// forwarder is closed. What is still buffered when ctx ends is left for
// Close, which the fleet calls after the connections that submit stopped.
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
			f.produce(f.batch(first))
		}
	}
}

// batch is first plus whatever else is buffered, up to forwardBatch.
func (f *Forwarder) batch(first sms.Receipt) []sms.Receipt {
	batch := []sms.Receipt{first}
	for len(batch) < forwardBatch {
		select {
		case r, ok := <-f.ch:
			if !ok {
				return batch
			}
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

func (f *Forwarder) produce(batch []sms.Receipt) {
	for attempt := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := f.p.Produce(ctx, batch...)
		cancel()
		if err == nil {
			return
		}
		f.log.Warn("receipts not landed in Kafka", zap.Int("records", len(batch)), zap.Int("attempt", attempt+1), zap.Error(err))
		// The batch is already acknowledged to the provider: shutdown does
		// not cut these retries short, the fallback below must still run.
		produceRetry.Wait(context.Background(), attempt)
	}
	f.log.Error("Kafka unreachable: applying receipts directly", zap.Int("records", len(batch)))
	f.apply(batch)
}

func (f *Forwarder) apply(batch []sms.Receipt) {
	for _, r := range batch {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := f.fallback(ctx, r)
		cancel()
		if err != nil {
			f.log.Error("receipt lost: neither Kafka nor Redis took it", zap.String("provider", r.Provider), zap.String("ref", r.Ref), zap.Error(err))
		}
	}
}

// Close stops taking receipts and returns once the buffered ones are
// produced (or applied), by Run if it still runs and by Close otherwise.
func (f *Forwarder) Close() error {
	f.once.Do(func() {
		f.mu.Lock()
		f.closed = true
		close(f.ch)
		f.mu.Unlock()
	})
	for first := range f.ch {
		f.produce(f.batch(first))
	}
	f.running.Wait()
	return nil
}
