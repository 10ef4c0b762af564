package receipts

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/sms"
)

// Forwarder lands receipts that arrive on a provider connection (SMPP
// deliver_sm) rather than a webhook in Kafka, like the webhooks do. The
// connection has already acknowledged them (gosmpp answers deliver_sm
// itself), so there is no one to ask to retry: receipts are buffered,
// produced in batches with retries, and when Kafka stays unreachable (or
// the buffer is full) applied to the delivery state directly, so none is
// lost for want of Kafka.
type Forwarder struct {
	p        *Producer
	ch       chan sms.Receipt
	fallback func(context.Context, sms.Receipt) error
	log      *zap.Logger
	done     chan struct{}
	once     sync.Once
	mu       sync.RWMutex // held for reading while submitting; Close takes it to stop submits
	closed   bool
}

// NewForwarder starts a forwarder producing with p, buffering up to
// buffer receipts, applying through fallback when Kafka cannot take them.
func NewForwarder(p *Producer, buffer int, fallback func(context.Context, sms.Receipt) error, log *zap.Logger) *Forwarder {
	f := &Forwarder{p: p, ch: make(chan sms.Receipt, buffer), fallback: fallback, log: log, done: make(chan struct{})}
	go f.run()
	return f
}

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

func (f *Forwarder) run() {
	defer close(f.done)
	for first := range f.ch {
		batch := []sms.Receipt{first}
	drain:
		for len(batch) < 500 {
			select {
			case r, ok := <-f.ch:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		f.produce(batch)
	}
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
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
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
// produced (or applied).
func (f *Forwarder) Close() error {
	f.once.Do(func() {
		f.mu.Lock()
		f.closed = true
		close(f.ch)
		f.mu.Unlock()
	})
	<-f.done
	return nil
}
