package monitor

import (
	"net/http"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynq/x/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	smsmetrics "github.com/smsfleet/smsfleet/internal/metrics"
)

// NewRegistry returns a registry with asynq's queue collector (asynq_*
// metrics per queue: asynq_queue_size, asynq_tasks_enqueued_total{state},
// asynq_queue_latency_seconds, ...), the Go and process collectors and
// the authentication failure counters.
//
// The queue collector reads every queue's state from Redis on each scrape
// (several round trips and MEMORY USAGE sampling per queue), so only the
// monitor role serves it: one scraper, not one per worker.
func NewRegistry(insp *asynq.Inspector) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		metrics.NewQueueMetricsCollector(insp),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	// The monitor's own failed logins (smsfleet_auth_failures_total).
	reg.MustRegister(smsmetrics.AuthCollectors()...)
	return reg
}

// MetricsHandler serves reg in the Prometheus exposition format.
func MetricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, MaxRequestsInFlight: 2})
}
