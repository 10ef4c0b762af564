package fleet

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/guard"
)

// buildGuards makes the applications' guards (internal/guard) on the
// traffic state, whose version tells every pod an operator changed them,
// and reads the overrides once so the first request already obeys them.
func (f *Fleet) buildGuards(ctx context.Context) {
	o := f.opts
	f.guards = guard.New(guard.Options{Redis: f.rdb, Store: f.traffic.store, Configured: o.Config.GuardsOf,
		Poll: o.Config.Admin.Poll, Now: o.Now, Log: o.Log.Named("guard")})
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := f.guards.Live.Refresh(rctx); err != nil {
		// The component retries every poll; until then the configured guards apply.
		o.Log.Warn("guard overrides not read at start", zap.Error(err))
	}
}
