package quota

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/kafkax"
	"github.com/smsfleet/smsfleet/internal/metrics"
)

// Topic is the Kafka topic of quota warnings.
const Topic = "smsfleet.quota"

// Event identity (docs/events/quota-warning.schema.json): the same header
// set as the fleet's other topics.
const (
	EventType     = "quota.warning"
	CEType        = "io.smsfleet.quota.warning.v1"
	CESource      = "/smsfleet/quota"
	SchemaVersion = 1
)

// Warning is a quota's warning threshold crossed by an application in a
// period: emitted once per application × quota × period.
type Warning struct {
	App         string
	Quota       config.QuotaKind
	Period      string // YYYYMMDD or YYYYMM (UTC)
	Limit       int64
	Threshold   int64
	WarnPercent int
	At          time.Time
	PeriodEnd   time.Time
}

// ID is the warning's stable id (ce_id): a warning published again after
// a crash keeps it, so consumers can drop the second.
func (w Warning) ID() string { return "quota:" + w.App + ":" + w.Quota.String() + ":" + w.Period }

// event is the record's JSON payload.
type event struct {
	ID          string `json:"id"`
	Application string `json:"application"`
	Quota       string `json:"quota"`
	Period      string `json:"period"`
	PeriodEnd   string `json:"period_end"`
	Limit       string `json:"limit"`
	Threshold   string `json:"threshold"`
	WarnPercent int    `json:"warn_percent"`
	Unit        string `json:"unit"`
	Currency    string `json:"currency,omitempty"`
	At          string `json:"at"`
}

// Writer is what Warner writes records with (a *kafka.Writer).
type Writer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Warner publishes the warnings Reserve claimed: a warn log line, a count
// in smsfleet_quota_warnings_total{quota} and, with Kafka, a record on
// Topic. Only then is the warning marked published; one that could not
// be published is unclaimed, and the next reservation past the threshold
// (on any pod) emits it again; a pod that died before publishing leaves
// it pending, which expires (pendingTTL) with the same effect.
type Warner struct {
	Store    *Store
	Writer   Writer // nil: no Kafka, log and metric only
	Currency string
	Log      *zap.Logger
}

// Warn publishes ws (one Reserve's).
func (w *Warner) Warn(ctx context.Context, ws []Warning) {
	for _, wn := range ws {
		if err := w.publish(ctx, wn); err != nil {
			w.Log.Error("quota warning not published; the next reservation past the threshold emits it again",
				zap.String("application", wn.App), zap.Stringer("quota", wn.Quota), zap.Error(err))
			if uerr := w.Store.unclaim(ctx, wn); uerr != nil {
				w.Log.Warn("quota warning not unclaimed; it is emitted again when its claim expires", zap.String("id", wn.ID()), zap.Error(uerr))
			}
			continue
		}
		if err := w.Store.confirm(ctx, wn); err != nil {
			w.Log.Warn("quota warning published but not marked so: it may be published twice (same ce_id)", zap.String("id", wn.ID()), zap.Error(err))
		}
	}
}

func (w *Warner) publish(ctx context.Context, wn Warning) error {
	w.Log.Warn("quota warning threshold crossed", zap.String("application", wn.App), zap.Stringer("quota", wn.Quota),
		zap.String("period", wn.Period), zap.Int("warn_percent", wn.WarnPercent), zap.String("limit", w.amount(wn.Quota, wn.Limit)))
	if w.Writer != nil {
		msg, err := w.record(wn)
		if err != nil {
			return err
		}
		if err := w.Writer.WriteMessages(ctx, msg); err != nil {
			return fmt.Errorf("quota warning %s to %s: %w", wn.ID(), Topic, err)
		}
	}
	metrics.QuotaWarnings.WithLabelValues(wn.Quota.String()).Inc()
	return nil
}

// record is wn as a Kafka record, keyed by application.
func (w *Warner) record(wn Warning) (kafka.Message, error) {
	ev := event{ID: wn.ID(), Application: wn.App, Quota: wn.Quota.String(), Period: wn.Period,
		PeriodEnd: wn.PeriodEnd.UTC().Format(time.RFC3339), Limit: w.amount(wn.Quota, wn.Limit),
		Threshold: w.amount(wn.Quota, wn.Threshold), WarnPercent: wn.WarnPercent, Unit: unitOf(wn.Quota),
		At: wn.At.UTC().Format(time.RFC3339Nano)}
	if wn.Quota.Money() {
		ev.Currency = w.Currency
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return kafka.Message{}, fmt.Errorf("quota warning %s: %w", wn.ID(), err)
	}
	return kafka.Message{Key: []byte(wn.App), Value: body, Headers: kafkax.Headers(kafkax.Meta{
		Type: EventType, SchemaVersion: SchemaVersion, ID: wn.ID(), Source: CESource, Time: wn.At,
	})}, nil
}

// amount is a quota amount as shown: money as a decimal, counts as such.
func (w *Warner) amount(k config.QuotaKind, v int64) string {
	if k.Money() {
		return config.Micros(v).String()
	}
	return fmt.Sprint(v)
}

// unitOf is what a quota counts: sms, segments or money.
func unitOf(k config.QuotaKind) string {
	switch {
	case k.Money():
		return "money"
	case k == config.SegmentsPerDay || k == config.SegmentsPerMonth:
		return "segments"
	}
	return "sms"
}

// confirm marks a claimed warning published until its period ends.
func (s *Store) confirm(ctx context.Context, w Warning) error {
	if err := s.rdb.Set(ctx, warningKey(w.App, w.Quota, w.Period), "s", warningTTL(w.Quota, s.now())).Err(); err != nil {
		return fmt.Errorf("quota: confirm warning %s: %w", w.ID(), err)
	}
	return nil
}

// unclaim drops a claimed warning that could not be published.
func (s *Store) unclaim(ctx context.Context, w Warning) error {
	if err := s.rdb.Del(ctx, warningKey(w.App, w.Quota, w.Period)).Err(); err != nil {
		return fmt.Errorf("quota: unclaim warning %s: %w", w.ID(), err)
	}
	return nil
}
