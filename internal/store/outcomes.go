package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/sms"
)

// Outcome events. Every move of an SMS to an outcome status appends an
// entry to the stream sf:oc inside the same Lua step as the move (luaMove),
// so the event exists exactly when the status does: a crash after the move
// cannot lose it and a replayed task or receipt, which moves nothing,
// cannot add a second one. Relays read the stream as the consumer group
// "relay", publish each event, and only then acknowledge and delete it; a
// relay that dies leaves its entries pending, and another claims them.
// Each partition has its stream (layout.go), read by a relay loop of its
// own: the partition is an argument of ReadOutcomes and travels with each
// event to AckOutcomes.
const outcomeGroup = "relay"

// NotDeliveredWithinWait is the reason an unknown outcome carries: the
// operator sent no receipt within the delivery wait.
const NotDeliveredWithinWait = "not_delivered_within_wait"

// OutcomeEvent is one SMS reaching an outcome status, with what its
// sender needs to act on it.
type OutcomeEvent struct {
	// StreamID is the entry's id and Partition its stream's, for
	// AckOutcomes.
	StreamID  string
	Partition int
	SMSID     string
	Code      string
	App       string
	Phone     string
	Status    sms.Status
	// Reason says why, as stored: "<code>" or "<code>: <detail>" (codes:
	// internal/outcomes/reasons.go): the suppression or expiry reason, the
	// provider's error for failed, operator_undelivered and the receipt's
	// error code for undelivered, not_delivered_within_wait for unknown,
	// none for canceled.
	Reason   string
	Provider string
	// Lane and Operator label the outcome in metrics.
	Lane     string
	Operator string
	At       time.Time
	// Callback is the notification's status_callback URL ("" for none).
	Callback string
}

// EnsureOutcomeGroup creates the relays' consumer group (and the stream)
// of every partition if they do not exist yet. Starting at 0 means events
// appended before the first relay ever ran are still published.
func (s *Store) EnsureOutcomeGroup(ctx context.Context) error {
	for p := range s.Partitions() {
		err := s.rdb.XGroupCreateMkStream(ctx, s.k.outcome(p), outcomeGroup, "0").Err()
		if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
			return fmt.Errorf("outcomes: create consumer group of partition %d: %w", p, err)
		}
	}
	return nil
}

// ReadOutcomes returns up to count events of partition p for consumer: first entries
// other relays left pending for longer than orphanAfter (they died), else
// new ones, waiting up to block for some to arrive. It returns no events
// and no error when nothing came.
func (s *Store) ReadOutcomes(ctx context.Context, p int, consumer string, count int, block, orphanAfter time.Duration) ([]OutcomeEvent, error) {
	stream := s.k.outcome(p)
	msgs, _, err := s.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: stream, Group: outcomeGroup, Consumer: consumer, MinIdle: orphanAfter, Start: "0", Count: int64(count),
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("outcomes: claim: %w", err)
	}
	if len(msgs) == 0 {
		streams, err := s.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: outcomeGroup, Consumer: consumer, Streams: []string{stream, ">"}, Count: int64(count), Block: block,
		}).Result()
		if errors.Is(err, redis.Nil) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("outcomes: read: %w", err)
		}
		for _, st := range streams {
			msgs = append(msgs, st.Messages...)
		}
	}
	return s.describeOutcomes(ctx, p, msgs)
}

// describeOutcomes reads what each entry's SMS and message say about it,
// in one pipelined round trip.
func (s *Store) describeOutcomes(ctx context.Context, part int, msgs []redis.XMessage) ([]OutcomeEvent, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	out := make([]OutcomeEvent, len(msgs))
	smsCmds := make([]*redis.SliceCmd, len(msgs))
	msgCmds := map[string]*redis.SliceCmd{}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, m := range msgs {
			id, _ := m.Values["id"].(string)
			st, _ := m.Values["st"].(string)
			at, _ := m.Values["at"].(string)
			code := sms.MessageCodeOf(id)
			out[i] = OutcomeEvent{StreamID: m.ID, Partition: part, SMSID: id, Code: code, Status: sms.Status(st), At: fromMS(at)}
			smsCmds[i] = p.HMGet(ctx, s.k.sms(id), fTo, fReason, fError, fDLRCode, fProvider, fOperator)
			if msgCmds[code] == nil {
				msgCmds[code] = p.HMGet(ctx, s.k.msg(code), fApp, fCallback, fType)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("outcomes: describe: %w", err)
	}
	str := func(v any) string { s, _ := v.(string); return s }
	for i := range out {
		e := &out[i]
		f := smsCmds[i].Val()
		e.Phone, e.Provider, e.Operator = str(f[0]), str(f[4]), str(f[5])
		switch e.Status {
		case sms.Suppressed:
			e.Reason = str(f[1])
		case sms.Failed, sms.Expired:
			e.Reason = str(f[2])
		case sms.Undelivered:
			// The receipt's error code is the detail of a reason code
			// (internal/outcomes/reasons.go).
			e.Reason = "operator_undelivered"
			if c := str(f[3]); c != "" {
				e.Reason += ": " + c
			}
		case sms.Unknown:
			e.Reason = NotDeliveredWithinWait
		}
		m := msgCmds[e.Code].Val()
		e.App, e.Callback, e.Lane = str(m[0]), str(m[1]), str(m[2])
	}
	return out, nil
}

// AckOutcomes acknowledges published events and deletes them from their
// streams, so each holds only what is still to be published: one MULTI
// per partition (a MULTI's keys share one slot).
func (s *Store) AckOutcomes(ctx context.Context, events []OutcomeEvent) error {
	if len(events) == 0 {
		return nil
	}
	byPart := map[int][]string{}
	for _, e := range events {
		byPart[e.Partition] = append(byPart[e.Partition], e.StreamID)
	}
	var err error
	for part, ids := range byPart {
		stream := s.k.outcome(part)
		_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.XAck(ctx, stream, outcomeGroup, ids...)
			p.XDel(ctx, stream, ids...)
			return nil
		})
		if err != nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("outcomes: ack: %w", err)
	}
	return nil
}

// OutcomeBacklog is how many outcome events wait to be published, in every
// partition.
func (s *Store) OutcomeBacklog(ctx context.Context) (int64, error) {
	var total int64
	for p := range s.Partitions() {
		n, err := s.OutcomeBacklogOf(ctx, p)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// OutcomeBacklogOf is how many outcome events of partition p wait to be
// published.
func (s *Store) OutcomeBacklogOf(ctx context.Context, p int) (int64, error) {
	n, err := s.rdb.XLen(ctx, s.k.outcome(p)).Result()
	if err != nil {
		return 0, fmt.Errorf("outcomes: backlog of partition %d: %w", p, err)
	}
	return n, nil
}

// scriptDropParked gives up one parked receipt whose window ended (its SMS
// was never marked sent with that reference) and counts it.
//
// KEYS[1] -> sf:park:<prov>:<ref>
// KEYS[2] -> sf:pz of the partition of "prov:ref"
// KEYS[3] -> sf:cnt of that partition
// ARGV[1] -> parked member ("prov:ref")
//
// Returns 1 when it dropped a receipt, 0 when the sent write had applied
// it meanwhile.
var scriptDropParked = newScript("drop_parked", `
local dropped = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if dropped == 1 then redis.call('HINCRBY', KEYS[3], F.receipts_dropped, 1) end
return dropped
`)

// DropExpiredParked gives up parked receipts whose window has ended, in
// every partition, and counts them in the partitions' receipts_dropped
// counters. It returns how many it dropped.
func (s *Store) DropExpiredParked(ctx context.Context) (int, error) {
	total := 0
	for p := range s.Partitions() {
		n, err := s.dropExpiredParked(ctx, p)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// dropExpiredParked is DropExpiredParked for partition part. Go reads the
// due members and drops each with its own keys, pipelined.
func (s *Store) dropExpiredParked(ctx context.Context, part int) (int, error) {
	const batch = 1000
	total := 0
	parked, counts := s.k.parked(part), s.k.counts(part)
	for {
		due, err := s.rdb.ZRangeByScore(ctx, parked, &redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(ms(s.now()), 10), Count: batch}).Result()
		if err != nil {
			return total, fmt.Errorf("drop expired parked receipts: %w", err)
		}
		if len(due) == 0 {
			return total, nil
		}
		cmds, err := s.runPipelined(ctx, func(p redis.Pipeliner) []*redis.Cmd {
			cmds := make([]*redis.Cmd, len(due))
			for i, m := range due {
				cmds[i] = scriptDropParked.EvalSha(ctx, p, []string{s.k.parkOf(m), parked, counts}, m)
			}
			return cmds
		})
		if err != nil {
			return total, fmt.Errorf("drop expired parked receipts: %w", err)
		}
		for _, c := range cmds {
			if n, _ := c.Int(); n == 1 {
				total++
			}
		}
		if len(due) < batch {
			return total, nil
		}
	}
}

// DroppedReceipts is how many parked receipts were given up, fleet-wide.
func (s *Store) DroppedReceipts(ctx context.Context) (int64, error) {
	n, err := s.sumCounter(ctx, fReceiptsDropped)
	if err != nil {
		return 0, fmt.Errorf("dropped receipts: %w", err)
	}
	return n, nil
}

// sumCounter adds up a fleet-wide counter over the partitions' sf:cnt.
func (s *Store) sumCounter(ctx context.Context, field string) (int64, error) {
	cmds := make([]*redis.StringCmd, s.Partitions())
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range cmds {
			cmds[i] = p.HGet(ctx, s.k.counts(i), field)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, err
	}
	var total int64
	for _, c := range cmds {
		if v, err := c.Int64(); err == nil {
			total += v
		}
	}
	return total, nil
}
