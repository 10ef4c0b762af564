package guard

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/traffic"
)

// fieldPrefix starts an application's override in the traffic state hash.
const fieldPrefix = "g:"

// Field is the traffic state field holding app's guard override.
func Field(app string) string { return fieldPrefix + app }

// Live is one pod's view of every application's guards: the configured
// ones with the operator's overrides, re-read whenever the traffic state's
// version moves (one HGET a poll otherwise).
type Live struct {
	store      *traffic.Store
	configured func(app string) config.Guards
	poll       time.Duration
	log        *zap.Logger
	cur        atomic.Pointer[liveState]
}

type liveState struct {
	version   int64
	overrides map[string]config.Guards
}

// LiveOptions configure a Live.
type LiveOptions struct {
	Store *traffic.Store
	// Configured is an application's configured guards (config.GuardsOf).
	Configured func(app string) config.Guards
	// Poll is the interval (0: one second).
	Poll time.Duration
	Log  *zap.Logger
}

// NewLive makes a Live with no overrides until its first Refresh.
func NewLive(o LiveOptions) *Live {
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	l := &Live{store: o.Store, configured: o.Configured, poll: o.Poll, log: o.Log}
	l.cur.Store(&liveState{version: -1, overrides: map[string]config.Guards{}})
	return l
}

// Name is the component's name.
func (l *Live) Name() string { return "guards" }

// Run refreshes every Poll until ctx ends; a failed refresh keeps the
// rules in force (a Redis outage must not lift a guard).
func (l *Live) Run(ctx context.Context) error {
	t := time.NewTicker(l.poll)
	defer t.Stop()
	for {
		if err := l.Refresh(ctx); err != nil && ctx.Err() == nil {
			l.log.Warn("guard overrides not refreshed; keeping the last ones", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Refresh reads the overrides when the state's version moved.
func (l *Live) Refresh(ctx context.Context) error {
	if l.store == nil {
		return nil
	}
	old := l.cur.Load()
	v, err := l.store.Version(ctx)
	if err != nil {
		return err
	}
	if v == old.version {
		return nil
	}
	raw, v, err := l.store.Fields(ctx, fieldPrefix)
	if err != nil {
		return err
	}
	next := &liveState{version: v, overrides: map[string]config.Guards{}}
	for app, js := range raw {
		var g config.Guards
		if err := json.Unmarshal([]byte(js), &g); err != nil {
			// Written by the operator API after validation: a bad one is
			// skipped, not allowed to stop the others.
			l.log.Error("guard override unreadable; ignored", zap.String("application", app), zap.Error(err))
			continue
		}
		next.overrides[app] = g
	}
	l.cur.Store(next)
	if old.version >= 0 {
		l.log.Info("guard overrides applied", zap.Int64("version", v), zap.Int("applications", len(next.overrides)))
	}
	return nil
}

// Rules are app's guards in force.
func (l *Live) Rules(app string) Rules {
	st := l.cur.Load()
	return Rules{Guards: resolve(l.configured(app), st.overrides[app])}
}

// resolve lays an override over configured guards.
func resolve(configured, override config.Guards) config.Guards {
	return configured.Merge(override).Normalize().WithDefaults()
}

// Override is the operator's override of app ("zero" for none) and the
// state version it was read at.
func (l *Live) Override(app string) (config.Guards, int64) {
	st := l.cur.Load()
	return st.overrides[app], st.version
}

// Configured is app's configured guards.
func (l *Live) Configured(app string) config.Guards { return l.configured(app) }

// ReadOverride reads app's override straight from Redis (the operator API
// changes it from what is stored, not from this pod's last poll).
func (l *Live) ReadOverride(ctx context.Context, app string) (config.Guards, error) {
	raw, _, err := l.store.Fields(ctx, Field(app))
	if err != nil {
		return config.Guards{}, err
	}
	var g config.Guards
	if js, ok := raw[""]; ok {
		if err := json.Unmarshal([]byte(js), &g); err != nil {
			return config.Guards{}, fmt.Errorf("guard: override of %s: %w", app, err)
		}
	}
	return g, nil
}

// Resolve is what app's guards would be with override.
func (l *Live) Resolve(app string, override config.Guards) Rules {
	return Rules{Guards: resolve(l.configured(app), override)}
}
