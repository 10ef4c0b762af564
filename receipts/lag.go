package receipts

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/metrics"
)

// LagMeter measures how far the consumer group is behind on every
// partition of its topic: the log end offset minus the group's committed
// offset (the partition's first offset when the group never committed
// there, where a new reader starts). It asks the broker, not a reader, so
// a partition no live member consumes (a dead member not yet fenced, a
// rebalance that left it unassigned) shows its whole backlog: kafka-go's
// reader stats only know the partitions this process reads, and read 0
// while it reads none (issue 12, item 7).
type LagMeter struct {
	Brokers []string
	Topic   string
	Group   string
	// Interval between measurements (zero: LagInterval).
	Interval time.Duration
	Log      *zap.Logger
	client   *kafka.Client
}

// LagInterval is how often the lag is measured by default.
const LagInterval = 5 * time.Second

// LagMeter returns the meter of c's group and topic, a component of its
// own so a consumer blocked on an empty partition still reports the lag
// of the others.
func (c *Consumer) LagMeter() *LagMeter {
	cfg := c.r.Config()
	return &LagMeter{Brokers: cfg.Brokers, Topic: cfg.Topic, Group: cfg.GroupID, Log: c.log}
}

// Name names the meter in the supervisor's logs.
func (m *LagMeter) Name() string { return "receipts-lag" }

// Run measures until ctx is done; a failed measurement is logged and the
// metric keeps its last value until the next one succeeds.
func (m *LagMeter) Run(ctx context.Context) error {
	iv := m.Interval
	if iv <= 0 {
		iv = LagInterval
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		if _, err := m.Measure(ctx); err != nil && ctx.Err() == nil && m.Log != nil {
			m.Log.Warn("receipts lag not measured", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Measure reads the lag of every partition, exports it
// (smsfleet_receipts_partition_lag per partition,
// smsfleet_receipts_consumer_lag the total) and returns the total.
func (m *LagMeter) Measure(ctx context.Context) (int64, error) {
	if m.client == nil {
		m.client = &kafka.Client{Addr: kafka.TCP(m.Brokers...), Timeout: 10 * time.Second}
	}
	parts, err := m.partitions(ctx)
	if err != nil {
		return 0, err
	}
	first, end, err := m.logOffsets(ctx, parts)
	if err != nil {
		return 0, err
	}
	committed, err := m.committedOffsets(ctx, parts)
	if err != nil {
		return 0, err
	}
	var total int64
	var errs []error
	for _, p := range parts {
		e, ok := end[p]
		if !ok {
			errs = append(errs, fmt.Errorf("partition %d: no log end offset", p))
			continue
		}
		from, ok := committed[p]
		if !ok || from < 0 { // never committed: a reader starts at the first offset
			from = first[p]
		}
		lag := max(e-from, 0)
		total += lag
		metrics.PartitionLag.WithLabelValues(m.Topic, strconv.Itoa(p)).Set(float64(lag))
	}
	if len(errs) > 0 {
		return 0, fmt.Errorf("receipts lag: %w", errors.Join(errs...))
	}
	metrics.ConsumerLag.WithLabelValues(m.Topic).Set(float64(total))
	return total, nil
}

// partitions lists the topic's partitions.
func (m *LagMeter) partitions(ctx context.Context) ([]int, error) {
	md, err := m.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{m.Topic}})
	if err != nil {
		return nil, fmt.Errorf("receipts lag: metadata: %w", err)
	}
	var parts []int
	for _, t := range md.Topics {
		if t.Name != m.Topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("receipts lag: topic %s: %w", m.Topic, t.Error)
		}
		for _, p := range t.Partitions {
			parts = append(parts, p.ID)
		}
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("receipts lag: topic %s has no partitions", m.Topic)
	}
	return parts, nil
}

// logOffsets reads each partition's first and log-end offsets.
func (m *LagMeter) logOffsets(ctx context.Context, parts []int) (first, end map[int]int64, err error) {
	reqs := make([]kafka.OffsetRequest, 0, 2*len(parts))
	for _, p := range parts {
		reqs = append(reqs, kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
	}
	lo, err := m.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{m.Topic: reqs}})
	if err != nil {
		return nil, nil, fmt.Errorf("receipts lag: list offsets: %w", err)
	}
	first, end = map[int]int64{}, map[int]int64{}
	for _, po := range lo.Topics[m.Topic] {
		if po.Error != nil {
			return nil, nil, fmt.Errorf("receipts lag: offsets of partition %d: %w", po.Partition, po.Error)
		}
		if po.FirstOffset >= 0 {
			first[po.Partition] = po.FirstOffset
		}
		if po.LastOffset >= 0 {
			end[po.Partition] = po.LastOffset
		}
	}
	return first, end, nil
}

// committedOffsets reads the group's committed offset of each partition
// (absent: never committed).
func (m *LagMeter) committedOffsets(ctx context.Context, parts []int) (map[int]int64, error) {
	of, err := m.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: m.Group, Topics: map[string][]int{m.Topic: parts}})
	if err != nil {
		return nil, fmt.Errorf("receipts lag: committed offsets: %w", err)
	}
	// A group that never committed is "not found" (kfake, newer brokers):
	// every partition is then behind from its first offset.
	if of.Error != nil && !errors.Is(of.Error, kafka.GroupIdNotFound) {
		return nil, fmt.Errorf("receipts lag: committed offsets: %w", of.Error)
	}
	committed := map[int]int64{}
	for _, p := range of.Topics[m.Topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("receipts lag: committed offset of partition %d: %w", p.Partition, p.Error)
		}
		committed[p.Partition] = p.CommittedOffset
	}
	return committed, nil
}
