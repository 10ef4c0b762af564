package receipts

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/lifecycle"
	"github.com/smsfleet/smsfleet/internal/metrics"
	"github.com/smsfleet/smsfleet/internal/store"
)

// ParkedSweeper is the component that gives up parked receipts: every
// Interval it drops (and counts) the receipts whose SMS never showed up
// with their reference within the park window (a provider's receipt for
// something we did not send, or a sent write lost to a crash and retried
// under a new reference). A few seconds late is harmless.
type ParkedSweeper struct {
	Store    *store.Store
	Interval time.Duration
	Log      *zap.Logger
}

// Name names the sweeper in the supervisor's logs.
func (s *ParkedSweeper) Name() string { return "parked-receipts-sweeper" }

// Run sweeps every Interval until ctx is done; a failed sweep ends it
// with the error, for the supervisor to run it again.
func (s *ParkedSweeper) Run(ctx context.Context) error {
	return lifecycle.Every(ctx, s.Interval, func(ctx context.Context) error {
		_, err := s.Sweep(ctx)
		return err
	})
}

// Sweep drops the parked receipts whose window ended and returns how many.
func (s *ParkedSweeper) Sweep(ctx context.Context) (int, error) {
	n, err := s.Store.DropExpiredParked(ctx)
	if err != nil {
		return 0, fmt.Errorf("parked-receipt sweep: %w", err)
	}
	metrics.ReceiptsDropped.Add(float64(n))
	if n > 0 {
		s.Log.Warn("parked receipts dropped: no SMS with their reference within the park window", zap.Int("receipts", n))
	}
	return n, nil
}
