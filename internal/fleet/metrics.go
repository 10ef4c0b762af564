package fleet

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/ratelimit"
	"github.com/smsfleet/smsfleet/worker"
)

// rateCollector reports each configured rate limit's effective (adaptive)
// rate at scrape time. The effective rate lives in Redis and is shared by
// the fleet, so reading it is one pipelined round trip per scrape, however
// many keys.
type rateCollector struct {
	rates      *worker.Rates
	log        *zap.Logger
	effective  *prometheus.Desc
	configured *prometheus.Desc
}

func newRateCollector(r *worker.Rates, log *zap.Logger) *rateCollector {
	return &rateCollector{
		rates: r, log: log,
		effective: prometheus.NewDesc("smsfleet_ratelimit_effective_rate",
			"Effective rate of a per-operator limit in segments per second, fleet-wide (lowered on provider throttles, recovering).", []string{"key"}, nil),
		configured: prometheus.NewDesc("smsfleet_ratelimit_configured_rate",
			"Configured rate of a per-operator limit in segments per second.", []string{"key"}, nil),
	}
}

func (c *rateCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c *rateCollector) Collect(ch chan<- prometheus.Metric) {
	if c.rates == nil || c.rates.Limiter == nil {
		return
	}
	conf := c.rates.Limits.Configured()
	keys := make([]string, len(conf))
	lims := make([]ratelimit.Limit, len(conf))
	for i, k := range conf {
		keys[i], lims[i] = k.Key, k.Limit
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := c.rates.Limiter.Status(ctx, keys, lims)
	if err != nil {
		c.log.Warn("metrics: rate-limit status", zap.Error(err))
		return
	}
	for _, s := range st {
		ch <- prometheus.MustNewConstMetric(c.effective, prometheus.GaugeValue, s.EffectiveRate, s.Key)
		ch <- prometheus.MustNewConstMetric(c.configured, prometheus.GaugeValue, s.Configured.Rate, s.Key)
	}
}
