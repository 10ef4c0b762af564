package fleet

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/admin"
	"github.com/smsfleet/smsfleet/internal/authguard"
	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/traffic"
)

// trafficParts are the live traffic control and delivery quality of a
// process (internal/traffic): every role has them, the API to show and
// change them, the worker to route by them, the receipts role to measure.
type trafficParts struct {
	store   *traffic.Store
	quality *traffic.Quality
	watcher *traffic.Watcher
}

// buildTraffic makes the process's traffic parts and applies the current
// state once, so the first SMS already follows a drain.
func (f *Fleet) buildTraffic(ctx context.Context) {
	o := f.opts
	var names []string
	for _, p := range configuredProviders(o.Config) {
		names = append(names, p.Name)
	}
	if o.Providers != nil {
		names = providerNames(o.Providers)
	}
	f.traffic.store = traffic.NewStore(f.rdb, o.Config.Admin.AuditMax, o.Now)
	f.traffic.quality = traffic.NewQuality(f.rdb, o.Config.Quality)
	f.traffic.watcher = traffic.NewWatcher(traffic.WatcherOptions{
		Store: f.traffic.store, Quality: f.traffic.quality, Providers: names, Poll: o.Config.Admin.Poll,
		UseQuality: o.Config.Quality.Enabled, Now: o.Now, Log: o.Log.Named("traffic"),
	})
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := f.traffic.watcher.Refresh(rctx); err != nil {
		// The watcher retries every poll; until then nothing is drained.
		o.Log.Warn("traffic state not read at start", zap.Error(err))
	}
}

func providerNames(ps []provider.Provider) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name()
	}
	return out
}

// mountAdmin registers the operator API and GET /api/v1/routes.
func (f *Fleet) mountAdmin(guard *authguard.Guard) {
	o := f.opts
	api := admin.New(admin.Options{
		Token: o.Config.Admin.Token, Who: o.Config.Admin.Name,
		Store: f.traffic.store, Watcher: f.traffic.watcher, Router: f.router, Inspector: f.insp,
		Shards: o.Config.LaneShards(), Providers: f.traffic.watcher.Providers(),
		RouteOf: o.Config.RouteOf, DefaultRoute: o.Config.DefaultRoute, Apps: o.Config.Applications, Unmatched: f.store,
		Guard: guard, Log: o.Log.Named("admin"),
	})
	api.Register(f.mux)
	api.RegisterGuards(f.mux, f.guards)
}

// receiptsMeasured makes the receipts consumer count receipts for the
// delivery quality, before it applies them: a batch applied again after a
// crash finds its receipt clocks stopped and counts nothing twice.
func (f *Fleet) receiptsMeasured() {
	q := f.traffic.quality
	f.receipts.consumer.OnFinal(func(ctx context.Context, rs []sms.Receipt) {
		if err := q.Receipts(ctx, rs); err != nil {
			f.log.Warn("delivery quality: receipts not counted", zap.Int("receipts", len(rs)), zap.Error(err))
		}
	})
}

// trafficCollector exports this process's view of the traffic state and
// of the delivery quality (smsfleet_traffic_*, smsfleet_provider_quality_*).
type trafficCollector struct {
	w                                                    *traffic.Watcher
	version, ratio, latency, sent, factor, countryFactor *prometheus.Desc
}

func newTrafficCollector(w *traffic.Watcher) *trafficCollector {
	p := []string{"provider"}
	return &trafficCollector{w: w,
		version: prometheus.NewDesc("smsfleet_traffic_version", "Version of the operator's traffic state this process applies.", nil, nil),
		ratio:   prometheus.NewDesc("smsfleet_provider_quality_delivery_ratio", "Share of a provider's SMS with a delivery receipt within the deadline, over the window.", p, nil),
		latency: prometheus.NewDesc("smsfleet_provider_quality_receipt_latency_seconds", "Mean receipt latency of a provider's SMS delivered within the deadline, over the window.", p, nil),
		sent:    prometheus.NewDesc("smsfleet_provider_quality_sms", "SMS a provider accepted whose receipt deadline fell in the window.", p, nil),
		factor:  prometheus.NewDesc("smsfleet_provider_quality_weight_factor", "Share of its weight a provider keeps for its delivery quality (floor..1).", p, nil),
		countryFactor: prometheus.NewDesc("smsfleet_provider_quality_country_weight_factor",
			"Share of its weight a provider keeps for its delivery quality to one country's phones (judged countries only).", []string{"provider", "country"}, nil),
	}
}

func (c *trafficCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c *trafficCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.version, prometheus.GaugeValue, float64(c.w.Applied()))
	for name, f := range c.w.Figures() {
		ch <- prometheus.MustNewConstMetric(c.ratio, prometheus.GaugeValue, f.Ratio, name)
		ch <- prometheus.MustNewConstMetric(c.latency, prometheus.GaugeValue, float64(f.LatencyMS)/1000, name)
		ch <- prometheus.MustNewConstMetric(c.sent, prometheus.GaugeValue, float64(f.Sent), name)
		ch <- prometheus.MustNewConstMetric(c.factor, prometheus.GaugeValue, f.Factor, name)
		for cc, cf := range f.Countries {
			if cf.Judged {
				ch <- prometheus.MustNewConstMetric(c.countryFactor, prometheus.GaugeValue, cf.Factor, name, cc)
			}
		}
	}
}
