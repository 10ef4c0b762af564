package fleet

import (
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
