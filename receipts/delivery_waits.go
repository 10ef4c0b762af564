package receipts

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/lifecycle"
	"github.com/smsfleet/smsfleet/internal/store"
)

// DeliveryWaitSweeper is the component that gives up waiting for receipts:
// every Interval it moves the SMS whose delivery wait ended while they were
// still sent to unknown. Every worker runs one; the store's script is
// atomic, so two sweepers never move an SMS twice.
type DeliveryWaitSweeper struct {
	Store    *store.Store
	Interval time.Duration
	Log      *zap.Logger
}

// deliveryWaitBatch is how many ended waits one script call handles.
const deliveryWaitBatch = 1000

// Name names the sweeper in the supervisor's logs.
func (s *DeliveryWaitSweeper) Name() string { return "delivery-wait-sweeper" }

// Run sweeps every Interval until ctx is done; a failed sweep ends it
// with the error, for the supervisor to run it again.
func (s *DeliveryWaitSweeper) Run(ctx context.Context) error {
	return lifecycle.Every(ctx, s.Interval, func(ctx context.Context) error {
		_, err := s.Sweep(ctx)
		return err
	})
}

// Sweep moves every SMS whose wait has ended, partition by partition (each
// has its own delivery-wait index), in batches, and returns how many it
// moved.
func (s *DeliveryWaitSweeper) Sweep(ctx context.Context) (int, error) {
	total := 0
	for p := range s.Store.Partitions() {
		n, err := s.sweep(ctx, p)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// sweep is Sweep for partition p.
func (s *DeliveryWaitSweeper) sweep(ctx context.Context, p int) (int, error) {
	total := 0
	for {
		moved, ended, err := s.Store.ExpireDeliveryWaits(ctx, p, deliveryWaitBatch)
		if err != nil {
			return total, fmt.Errorf("delivery-wait sweep of partition %d: %w", p, err)
		}
		total += moved
		if moved > 0 {
			s.Log.Info("no receipt within the delivery wait: unknown", zap.Int("sms", moved))
		}
		if ended < deliveryWaitBatch {
			// Texts and numbers past their retention go on the same beat
			// (store/privacy.go).
			for {
				n, err := s.Store.SweepPrivacy(ctx, p, deliveryWaitBatch)
				if err != nil || n < deliveryWaitBatch {
					return total, err
				}
			}
		}
	}
}
