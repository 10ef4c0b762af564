package fleet

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/kafkax"
	"github.com/smsfleet/smsfleet/internal/quota"
	"github.com/smsfleet/smsfleet/worker"
)

// quotaStore is the applications' quotas on the fleet's Redis (issue 18),
// nil when no application has any.
func (f *Fleet) quotaStore() *quota.Store {
	cfg := f.opts.Config
	for _, a := range cfg.Applications {
		if a.Quotas.Any() {
			return quota.NewStore(f.rdb, cfg.QuotasOf, f.opts.Now)
		}
	}
	return nil
}

// workerQuotas are the worker's quotas and the publisher of their
// warnings (to smsfleet.quota when Kafka is configured; the writer is
// closed with the fleet).
func (f *Fleet) workerQuotas() *worker.Quotas {
	st := f.quotaStore()
	if st == nil {
		return nil
	}
	cfg := f.opts.Config
	w := &quota.Warner{Store: st, Currency: cfg.Prices.Currency, Log: f.log.Named("quota")}
	if len(cfg.Kafka.Brokers) > 0 {
		kw := kafkax.NewWriter(cfg.Kafka.Brokers, quota.Topic)
		kw.AllowAutoTopicCreation = true
		w.Writer = kw
		f.closers = append(f.closers, kw)
	}
	return &worker.Quotas{Store: st, Warner: w}
}

// quotaCollector exports each configured application's quota use and
// limits (smsfleet_quota_used, smsfleet_quota_limit): labels are the
// application (only those the configuration gives quotas: bounded) and the
// quota (six names). Money is in the prices' currency. It reads Redis on
// each scrape (two HMGETs per application, pipelined per application).
type quotaCollector struct {
	st        *quota.Store
	apps      []string
	used, lim *prometheus.Desc
	timeout   time.Duration
}

func newQuotaCollector(st *quota.Store, cfg config.Config) *quotaCollector {
	c := &quotaCollector{st: st, timeout: 2 * time.Second,
		used: prometheus.NewDesc("smsfleet_quota_used", "What an application used of a quota in its current UTC period (SMS, segments, or money in the prices' currency).", []string{"application", "quota"}, nil),
		lim:  prometheus.NewDesc("smsfleet_quota_limit", "An application's quota limit (SMS, segments, or money in the prices' currency).", []string{"application", "quota"}, nil),
	}
	for _, a := range cfg.Applications {
		if a.Quotas.Any() {
			c.apps = append(c.apps, a.Code)
		}
	}
	return c
}

func (c *quotaCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c *quotaCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	for _, app := range c.apps {
		us, err := c.st.Usage(ctx, app)
		if err != nil {
			continue // a scrape without this application's figures; the next one retries
		}
		for _, u := range us {
			used, lim := float64(u.Used), float64(u.Limit)
			if u.Quota.Money() {
				used, lim = config.Micros(u.Used).Float(), config.Micros(u.Limit).Float()
			}
			ch <- prometheus.MustNewConstMetric(c.used, prometheus.GaugeValue, used, app, u.Quota.String())
			ch <- prometheus.MustNewConstMetric(c.lim, prometheus.GaugeValue, lim, app, u.Quota.String())
		}
	}
}
