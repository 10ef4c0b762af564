package intake

import (
	"net/http"

	"github.com/smsfleet/smsfleet/ratelimit"
)

// RateStatus is what GET /api/v1/ratelimits reports: every configured
// limit with its effective (adaptive) rate and recent usage.
type RateStatus struct {
	Limits  ratelimit.Limits
	Limiter *ratelimit.Limiter
}

type rateView struct {
	Key            string  `json:"key"`
	ConfiguredRate float64 `json:"configured_rate"`
	Burst          int     `json:"burst"`
	EffectiveRate  float64 `json:"effective_rate"`
	// RecentSegments were allowed in the last 60 seconds, fleet-wide.
	RecentSegments int64   `json:"recent_segments"`
	RecentRate     float64 `json:"recent_rate"`
}

// rateLimits answers GET /api/v1/ratelimits (any application's server
// token: the limits are the fleet's, shared by every application).
func (a *API) rateLimits(r *http.Request, _ string, _ page) (any, int, error) {
	if a.Rates == nil || a.Rates.Limiter == nil {
		return map[string]any{"limits": []rateView{}}, http.StatusOK, nil
	}
	conf := a.Rates.Limits.Configured()
	keys := make([]string, len(conf))
	lims := make([]ratelimit.Limit, len(conf))
	for i, c := range conf {
		keys[i], lims[i] = c.Key, c.Limit
	}
	st, err := a.Rates.Limiter.Status(r.Context(), keys, lims)
	if err != nil {
		return nil, 0, err
	}
	out := make([]rateView, len(st))
	for i, s := range st {
		out[i] = rateView{Key: s.Key, ConfiguredRate: s.Configured.Rate, Burst: s.Configured.Burst, EffectiveRate: s.EffectiveRate,
			RecentSegments: s.RecentSegments, RecentRate: float64(s.RecentSegments) / 60}
	}
	return map[string]any{"limits": out}, http.StatusOK, nil
}
