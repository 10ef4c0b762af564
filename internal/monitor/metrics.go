package monitor

import (
	"fmt"
	"net/http"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	smsmetrics "github.com/smsfleet/smsfleet/internal/metrics"
)

// NewRegistry returns a registry with the asynq queue collector (per
// queue: asynq_queue_size, asynq_queue_tasks{state},
// asynq_queue_latency_seconds, asynq_tasks_processed_total,
// asynq_tasks_failed_total, ...), the Go and process collectors, build
// information, HTTP request metrics and the authentication failure
// counters.
//
// The queue collector reads every queue's state from Redis on each scrape
// (several round trips and MEMORY USAGE sampling per queue), so only the
// monitor role serves it: one scraper, not one per worker.
func NewRegistry(insp *asynq.Inspector) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		&queueCollector{insp: insp},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		smsmetrics.BuildInfo,
	)
	// The monitor's own failed logins (smsfleet_auth_failures_total) and
	// requests.
	reg.MustRegister(smsmetrics.AuthCollectors()...)
	reg.MustRegister(smsmetrics.HTTPCollectors()...)
	return reg
}

// MetricsHandler serves reg in the Prometheus exposition format.
func MetricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, MaxRequestsInFlight: 2})
}

// The queue metrics. asynq's own collector (github.com/hibiken/asynq/x/
// metrics) serves the same figures, but two of its gauges end in _total
// (asynq_tasks_enqueued_total, asynq_queue_paused_total), which
// Prometheus' conventions reserve for counters (`promtool check metrics`
// fails on them, and rate() over them is silently wrong): this collector
// names them asynq_queue_tasks and asynq_queue_paused and keeps the other
// names, so the latency alert and dashboards built on them are unchanged.
//
// Deferrals are not failures: a task the worker defers (quiet hours, a
// rate limit, every provider's breaker open, an application paused)
// returns worker.Deferred, which the worker's asynq servers' IsFailure
// reports as no failure, so asynq neither counts it in
// asynq_tasks_failed_total (nor in processed) nor uses one of its retries.
// While it waits it is in state="retry" of asynq_queue_tasks: that state
// holds tasks waiting to run again, failed or deferred alike.
var (
	queueTasksDesc = prometheus.NewDesc("asynq_queue_tasks",
		"Tasks in a queue, by state (active, pending, scheduled, retry: failed or deferred and waiting to run again, aggregating, archived, completed).",
		[]string{"queue", "state"}, nil)
	queueSizeDesc = prometheus.NewDesc("asynq_queue_size",
		"Tasks in a queue: pending, active, scheduled, retry, aggregating and archived (not completed).", []string{"queue"}, nil)
	queueLatencyDesc = prometheus.NewDesc("asynq_queue_latency_seconds",
		"Seconds the oldest pending task of a queue has waited to be processed.", []string{"queue"}, nil)
	queueMemoryDesc = prometheus.NewDesc("asynq_queue_memory_usage_approx_bytes",
		"Memory a queue uses in Redis, approximated by sampling.", []string{"queue"}, nil)
	processedDesc = prometheus.NewDesc("asynq_tasks_processed_total",
		"Tasks processed (succeeded or failed; deferrals are neither), by queue.", []string{"queue"}, nil)
	failedDesc = prometheus.NewDesc("asynq_tasks_failed_total",
		"Task runs that failed (deferrals are not failures), by queue.", []string{"queue"}, nil)
	pausedDesc = prometheus.NewDesc("asynq_queue_paused",
		"1 while a queue is paused, else 0.", []string{"queue"}, nil)
)

// queueCollector reads every queue's figures at each scrape.
type queueCollector struct{ insp *asynq.Inspector }

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	queues, err := c.insp.Queues()
	if err != nil {
		// The scrape fails (the handler answers 500), so the monitor's
		// target is down and SmsfleetTargetDown says so, rather than the
		// lanes silently vanishing.
		ch <- prometheus.NewInvalidMetric(queueSizeDesc, fmt.Errorf("asynq queues: %w", err))
		return
	}
	for _, q := range queues {
		info, err := c.insp.GetQueueInfo(q)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(queueSizeDesc, fmt.Errorf("asynq queue %s: %w", q, err))
			continue
		}
		collectQueue(ch, info)
	}
}

func collectQueue(ch chan<- prometheus.Metric, info *asynq.QueueInfo) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	q := info.Queue
	for state, n := range map[string]int{"active": info.Active, "pending": info.Pending, "scheduled": info.Scheduled,
		"retry": info.Retry, "aggregating": info.Aggregating, "archived": info.Archived, "completed": info.Completed} {
		gauge(queueTasksDesc, float64(n), q, state)
	}
	gauge(queueSizeDesc, float64(info.Size), q)
	gauge(queueLatencyDesc, info.Latency.Seconds(), q)
	gauge(queueMemoryDesc, float64(info.MemoryUsage), q)
	paused := 0.0
	if info.Paused {
		paused = 1
	}
	gauge(pausedDesc, paused, q)
	ch <- prometheus.MustNewConstMetric(processedDesc, prometheus.CounterValue, float64(info.ProcessedTotal), q)
	ch <- prometheus.MustNewConstMetric(failedDesc, prometheus.CounterValue, float64(info.FailedTotal), q)
}
