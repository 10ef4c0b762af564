package guard

import (
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/metrics"
	"github.com/smsfleet/smsfleet/internal/traffic"
)

// Guards is what intake and the worker hold: the rules in force, the
// intake rate limit and the OTP counters.
type Guards struct {
	Live    *Live
	Rate    *Rate
	Pumping *Pumping
	log     *zap.Logger
}

// Options configure New.
type Options struct {
	Redis redis.UniversalClient
	// Store is the traffic state the operator's overrides live in.
	Store *traffic.Store
	// Configured is an application's configured guards (config.GuardsOf).
	Configured func(app string) config.Guards
	Poll       time.Duration
	// Now is the clock of the OTP windows (nil: time.Now).
	Now func() time.Time
	Log *zap.Logger
}

// New makes the guards of a process.
func New(o Options) *Guards {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	return &Guards{
		Live:    NewLive(LiveOptions{Store: o.Store, Configured: o.Configured, Poll: o.Poll, Log: o.Log}),
		Rate:    NewRate(o.Redis),
		Pumping: NewPumping(o.Redis, o.Now),
		log:     o.Log,
	}
}

// Rules are app's guards in force.
func (g *Guards) Rules(app string) Rules { return g.Live.Rules(app) }

// Refused counts a refusal (smsfleet_guard_refusals_total{rule}).
func (g *Guards) Refused(r *Refusal) { metrics.GuardRefusals.WithLabelValues(r.Rule).Inc() }

// Hot counts and logs a prefix that turned suddenly hot with OTP; the log
// names the prefix, never the number.
func (g *Guards) Hot(app string, rules Rules, phone string) {
	cc := Country(phone)
	if cc == "" {
		cc = "none"
	}
	metrics.GuardAnomalies.WithLabelValues(app, cc).Inc()
	g.log.Warn("OTP to a number prefix suddenly hot: possible SMS pumping", zap.String("application", app),
		zap.String("prefix", rules.Prefix(phone)), zap.String("country", cc),
		zap.Float64("anomaly_factor", rules.AnomalyFactor), zap.Int("anomaly_floor", rules.AnomalyFloor))
}
