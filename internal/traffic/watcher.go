package traffic

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Watcher is one pod's view of the traffic state and delivery quality: it
// polls Redis every Poll (one HGET while nothing changed), applies a new
// version at once, re-evaluates the quality figures, and reports what it
// applied (Store.Report) so the operator API can show that every pod has
// it. The router and the worker read it without a round trip.
type Watcher struct {
	store     *Store
	quality   *Quality
	providers []string
	poll      time.Duration
	now       func() time.Time
	log       *zap.Logger
	pod       string
	// useQuality: the factors change weights (SMSFLEET_QUALITY_ENABLED).
	useQuality bool

	cur atomic.Pointer[snapshot]
}

// snapshot is what a pod applies.
type snapshot struct {
	state     State
	figures   map[string]Figures
	qualityAt time.Time
}

// WatcherOptions configure a Watcher.
type WatcherOptions struct {
	Store   *Store
	Quality *Quality
	// Providers are the providers whose quality is evaluated.
	Providers []string
	// Poll is the interval (0: one second).
	Poll time.Duration
	// UseQuality lets the quality factors change weights.
	UseQuality bool
	// Now is the clock quality is judged on (nil: time.Now).
	Now func() time.Time
	Log *zap.Logger
}

// NewWatcher makes a watcher holding the empty state until its first
// Refresh.
func NewWatcher(o WatcherOptions) *Watcher {
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	w := &Watcher{store: o.Store, quality: o.Quality, providers: o.Providers, poll: o.Poll, now: o.Now, log: o.Log, pod: podID(), useQuality: o.UseQuality}
	w.cur.Store(&snapshot{state: parseState(nil), figures: map[string]Figures{}})
	return w
}

// podID names this process in reports: its host name (the pod's name on
// Kubernetes) and a random suffix, since tests run several in one process.
func podID() string {
	host, _ := os.Hostname()
	var b [3]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}

// Pod is this watcher's id in reports.
func (w *Watcher) Pod() string { return w.pod }

// Name is the watcher's name as a lifecycle component.
func (w *Watcher) Name() string { return "traffic-watcher" }

// Run refreshes every Poll until ctx ends. A failed refresh keeps the
// last applied state (a Redis outage must not undo a drain) and is
// retried at the next tick.
func (w *Watcher) Run(ctx context.Context) error {
	t := time.NewTicker(w.poll)
	defer t.Stop()
	for {
		if err := w.Refresh(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn("traffic state not refreshed; keeping the last one", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Refresh reads the state (all of it only when its version moved),
// evaluates the quality figures, and reports.
func (w *Watcher) Refresh(ctx context.Context) error {
	old := w.cur.Load()
	next := &snapshot{state: old.state, figures: old.figures, qualityAt: old.qualityAt}
	v, err := w.store.Version(ctx)
	if err != nil {
		return err
	}
	if v != old.state.Version {
		st, err := w.store.Load(ctx)
		if err != nil {
			return err
		}
		next.state = st
		w.log.Info("traffic state applied", zap.Int64("version", st.Version), zap.Int64("from", old.state.Version))
	}
	if w.quality != nil {
		at := w.now()
		figs, err := w.quality.Evaluate(ctx, w.providers, at)
		if err != nil {
			// The state is still applied; the figures stay as they were.
			w.cur.Store(next)
			return err
		}
		next.figures, next.qualityAt = figs, at
	}
	w.cur.Store(next)
	return w.store.Report(ctx, PodReport{Pod: w.pod, Version: next.state.Version, QualityAt: next.qualityAt.UnixMilli()})
}

// Applied is the version of the control state this pod applies.
func (w *Watcher) Applied() int64 { return w.cur.Load().state.Version }

// State is the control state this pod applies.
func (w *Watcher) State() State { return w.cur.Load().state }

// Figures are the quality figures this pod last evaluated.
func (w *Watcher) Figures() map[string]Figures { return w.cur.Load().figures }

// Drained reports whether the operator drained prov.
func (w *Watcher) Drained(prov string) bool { return w.cur.Load().state.Drained[prov] }

// Weight is the operator's weight of prov, if set.
func (w *Watcher) Weight(prov string) (int, bool) {
	n, ok := w.cur.Load().state.Weights[prov]
	return n, ok
}

// Factor is the share of its weight prov keeps for its delivery quality
// to phones of country: the country's factor when the country has enough
// SMS to judge, else the provider's overall one (1 with quality routing
// off or no verdict).
func (w *Watcher) Factor(prov, country string) float64 {
	if !w.useQuality {
		return 1
	}
	f, ok := w.cur.Load().figures[prov]
	if !ok {
		return 1
	}
	if cf, ok := f.Countries[country]; ok && country != "" && cf.Judged && cf.Factor > 0 {
		return cf.Factor
	}
	if f.Factor > 0 {
		return f.Factor
	}
	return 1
}

// AppPaused reports whether the operator paused app.
func (w *Watcher) AppPaused(app string) bool { return w.cur.Load().state.PausedApps[app] }

// Providers are the providers whose quality the watcher evaluates.
func (w *Watcher) Providers() []string { return w.providers }
