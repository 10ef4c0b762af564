package dispatcher

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/lifecycle"
)

// OutboxSweeper is the component that repairs the outbox: every Interval
// it enqueues the messages stored more than Interval ago whose enqueue was
// never confirmed (see Enqueuer.SweepOutbox). Every worker runs one;
// enqueueing is idempotent by task id, so two sweepers never send twice.
type OutboxSweeper struct {
	Enqueuer *Enqueuer
	Interval time.Duration
	Log      *zap.Logger
}

// Name names the sweeper in the supervisor's logs.
func (s *OutboxSweeper) Name() string { return "outbox-sweeper" }

// Run sweeps every Interval until ctx is done; a failed sweep ends it
// with the error, for the supervisor to run it again.
func (s *OutboxSweeper) Run(ctx context.Context) error {
	return lifecycle.Every(ctx, s.Interval, func(ctx context.Context) error {
		if _, err := s.Enqueuer.SweepOutbox(ctx, s.Interval, s.Log); err != nil {
			return fmt.Errorf("outbox sweep: %w", err)
		}
		return nil
	})
}
