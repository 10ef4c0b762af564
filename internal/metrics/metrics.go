// Package metrics holds smsfleet's Prometheus metrics, served at /metrics
// by every role. Each metric is registered once on Registry and updated
// where the thing it counts happens; a role that does not do a thing
// leaves its metric at zero. Labels stay bounded: statuses, lanes,
// provider names and operator keys are all finite, configured sets;
// phones and message codes never become labels.
//
// asynq's queue collector (queue sizes, latency) is not here: it reads
// every queue on each scrape, so only the monitor role serves it
// (internal/monitor).
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry holds every smsfleet metric plus Go and process metrics.
var Registry = prometheus.NewRegistry()

var factory = func() func(prometheus.Collector) {
	Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return func(c prometheus.Collector) { Registry.MustRegister(c) }
}()

func counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	factory(c)
	return c
}

func histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	factory(h)
	return h
}

func counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	factory(c)
	return c
}

func gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	factory(g)
	return g
}

var (
	// ProviderLatency times every provider call, by how it ended (ok,
	// transient, throttled, permanent, ambiguous).
	ProviderLatency = histogramVec("smsfleet_provider_request_duration_seconds", "Provider send calls, by provider and result.",
		[]float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}, "provider", "result")

	// BreakerState is each provider's breaker in this process: 0 closed,
	// 1 half-open, 2 open.
	BreakerState = gaugeVec("smsfleet_breaker_state", "Provider circuit breaker state in this process: 0 closed, 1 half-open, 2 open.", "provider")

	// RateLimitWait times how long SMS waited on an operator's limit
	// before they were admitted or put back on the queue.
	RateLimitWait = histogramVec("smsfleet_ratelimit_wait_seconds", "Time spent waiting on per-operator rate limits, by limit key and outcome (admitted or deferred).",
		[]float64{.001, .01, .05, .1, .25, .5, 1, 1.5, 2.5, 5}, "operator", "outcome")

	// ReceiptsApplied counts final receipts the consumer applied, by what
	// they did: delivered/undelivered moved an SMS, duplicate moved
	// nothing (a replay, or an SMS already final).
	ReceiptsApplied = counterVec("smsfleet_receipts_applied_total", "Delivery receipts applied by the consumer, by result.", "status")

	// ReceiptsParked counts receipts that came before their SMS was marked
	// sent and wait for it.
	ReceiptsParked = counter("smsfleet_receipts_parked_total", "Delivery receipts parked because their SMS was not yet marked sent.")

	// ReceiptsDropped counts parked receipts given up after the park window.
	ReceiptsDropped = counter("smsfleet_receipts_dropped_total", "Parked delivery receipts given up after SMSFLEET_RECEIPTS_PARK_TTL.")

	// ReceiptsDeadLettered counts unparseable records sent to the DLQ.
	ReceiptsDeadLettered = counter("smsfleet_receipts_dead_lettered_total", "Unparseable receipt records sent to smsfleet.receipts.dlq.")

	// ConsumerLag is how many records the receipts consumer group is
	// behind, summed over every partition of the topic: log end offset
	// minus the group's committed offset (receipts.LagMeter). Every
	// receipts process reports the same group total.
	ConsumerLag = gaugeVec("smsfleet_receipts_consumer_lag", "Records the receipts consumer group is behind on the topic (log end minus committed offset, all partitions).", "topic")
	// PartitionLag is ConsumerLag per partition.
	PartitionLag = gaugeVec("smsfleet_receipts_partition_lag", "Records the receipts consumer group is behind on one partition (log end minus committed offset).", "topic", "partition")

	// FanoutSize is how many recipients each dispatch step fanned out.
	FanoutSize = func() prometheus.Histogram {
		h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "smsfleet_dispatch_fanout_size",
			Help: "Recipients per message time-zone group fanned out by one dispatch task.", Buckets: prometheus.ExponentialBuckets(1, 4, 11)})
		factory(h)
		return h
	}()

	// Outcomes counts outcome events relayed, by where they went (kafka,
	// callback: a callback task enqueued).
	Outcomes = counterVec("smsfleet_outcomes_total", "Outcome events relayed, by destination.", "destination")
	// Callbacks counts status-callback POSTs by result (ok, failed).
	Callbacks = counterVec("smsfleet_callbacks_total", "Status-callback POSTs, by result.", "result")
	// OutcomeGroupRecreated counts the times an outcome relay found the
	// stream's consumer group gone (Redis lost its data) and made it again.
	OutcomeGroupRecreated = counter("smsfleet_outcomes_group_recreated_total", "Times the outcome relay recreated the outcome stream's consumer group after Redis lost it (NOGROUP).")
	// OutcomeBacklog is the events waiting in the outcome stream.
	OutcomeBacklog = func() prometheus.Gauge {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "smsfleet_outcomes_backlog", Help: "Outcome events not yet relayed (Redis stream length)."})
		factory(g)
		return g
	}()
)

// Handler serves Registry in the Prometheus text format, plus extra
// registries (the effective-rate collector of a worker).
func Handler(extra ...prometheus.Gatherer) http.Handler {
	g := prometheus.Gatherers{Registry}
	g = append(g, extra...)
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
