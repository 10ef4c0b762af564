package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/sms"
)

// SMS is the record of one message to one phone.
type SMS struct {
	ID          string
	Code        string
	To          string
	Status      sms.Status
	Provider    string
	ProviderRef string
	Segments    int
	Encoding    string
	Error       string
	// Reason says why an SMS was suppressed.
	Reason string
	// Operator is the recipient's mobile network ("DE:Telekom"), as rate
	// limiting saw it when the SMS was sent.
	Operator  string
	Attempts  int
	Deadline  time.Time
	UpdatedAt time.Time
	// History is every provider call made for the SMS, oldest first.
	History []Attempt
}

// Attempt is one provider call for an SMS.
type Attempt struct {
	Provider string    `json:"provider"`
	At       time.Time `json:"at"`
	// Outcome is "sent", or the failure's class: "transient", "throttled",
	// "permanent".
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
}

func attemptArgs(list []Attempt) []any {
	out := make([]any, 0, len(list))
	for _, a := range list {
		b, _ := json.Marshal(a)
		out = append(out, string(b))
	}
	return out
}

// GetSMS loads one SMS record.
func (s *Store) GetSMS(ctx context.Context, id string) (SMS, error) {
	recs, err := s.GetSMSBatch(ctx, []string{id})
	if err != nil {
		return SMS{}, err
	}
	if recs[0].ID == "" {
		return SMS{}, ErrNotFound
	}
	return recs[0], nil
}

// GetSMSBatch loads many SMS records in one round trip; a missing one is
// returned as the zero SMS.
func (s *Store) GetSMSBatch(ctx context.Context, ids []string) ([]SMS, error) {
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	hist := make([]*redis.StringSliceCmd, len(ids))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, smsKey(id))
			hist[i] = p.LRange(ctx, attemptsKey(id), 0, -1)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("get sms: %w", err)
	}
	out := make([]SMS, len(ids))
	for i, c := range cmds {
		h := c.Val()
		if len(h) == 0 {
			continue
		}
		seg, _ := strconv.Atoi(h["sg"])
		att, _ := strconv.Atoi(h["a"])
		out[i] = SMS{
			ID: ids[i], Code: h["m"], To: h["to"], Status: sms.Status(h["st"]), Provider: h["p"],
			ProviderRef: h["r"], Segments: seg, Encoding: h["enc"], Error: h["e"], Reason: h["rs"], Operator: h["op"], Attempts: att,
			Deadline: fromMS(h["dl"]), UpdatedAt: fromMS(h["up"]),
		}
		for _, raw := range hist[i].Val() {
			var a Attempt
			if json.Unmarshal([]byte(raw), &a) == nil {
				out[i].History = append(out[i].History, a)
			}
		}
	}
	return out, nil
}

// Loaded is everything the worker needs to judge, render and send one
// SMS, read in one round trip (LoadSMS).
type Loaded struct {
	Status   sms.Status
	To       string
	Attempts int
	Deadline time.Time
	App      string
	Type     sms.Type
	// Content and Placeholders are the message's JSON (see Message).
	Content      string
	Placeholders string
	Sender       string
	CappingDays  int
	CappingCount int
	OptedOut     bool
	// Device is the recipient's device, when it is registered.
	Device *Device
	// Began is true when the load already took the SMS for sending (see
	// scriptLoad); Attempts then counts this attempt.
	Began bool
	// LastProvider took the previous attempt; LastAmbiguous says that
	// attempt may have been accepted (a retry must go back to it).
	LastProvider  string
	LastAmbiguous bool
}

// LoadSMS reads an SMS with its message and the recipient's device and
// opt-out state. ok is false when the SMS is not queued or sending
// (canceled, already sent, never created): its task is then done. With
// mayBegin the load also begins an SMS nothing visible to Lua could stop
// (see scriptLoad); the worker passes false while a provider's breaker is
// open, so an SMS no provider can take stays queued.
func (s *Store) LoadSMS(ctx context.Context, id string, mayBegin bool) (l Loaded, ok bool, err error) {
	code := sms.MessageCodeOf(id)
	begin := 0
	if mayBegin {
		begin = 1
	}
	res, err := scriptLoad.Run(ctx, s.rdb, []string{smsKey(id), msgKey(code), keyOutbox}, code, pDevice, pOptOut, ms(s.now()), begin).Slice()
	if err != nil {
		return Loaded{}, false, fmt.Errorf("load sms %s: %w", id, err)
	}
	if res[0].(int64) == 0 {
		return Loaded{Status: sms.Status(res[1].(string))}, false, nil
	}
	str := func(i int) string { v, _ := res[i].(string); return v }
	num := func(i int) int { n, _ := strconv.Atoi(str(i)); return n }
	l = Loaded{
		Status: sms.Status(str(1)), To: str(2), Attempts: num(3), Deadline: fromMS(str(4)), App: str(5), Type: sms.Type(str(6)),
		Content: str(7), Sender: str(8), Placeholders: str(9), CappingDays: num(10), CappingCount: num(11), OptedOut: res[12].(int64) == 1,
		Began: res[14].(int64) == 1, LastProvider: str(15), LastAmbiguous: str(16) == "1",
	}
	if flat, _ := res[13].([]any); len(flat) > 0 {
		h := make(map[string]string, len(flat)/2)
		for i := 0; i+1 < len(flat); i += 2 {
			h[flat[i].(string)] = flat[i+1].(string)
		}
		d := deviceFromHash(l.To, h)
		l.Device = &d
	}
	return l, true, nil
}

// FrequencyWindow is how long marketing sends are remembered per device
// for frequency capping: the longest capping_days.
const FrequencyWindow = 30 * 24 * time.Hour

// Begin takes a loaded SMS for sending and counts the attempt (see
// scriptBegin). A marketing SMS with capping may come back capped: it is
// then suppressed with reason frequency_cap and must not be sent. An SMS
// the load already began costs no round trip.
func (s *Store) Begin(ctx context.Context, id string, l Loaded) (attempts int, capped, ok bool, err error) {
	if l.Began {
		return l.Attempts, false, true, nil
	}
	fk := ""
	if l.Type == sms.Marketing {
		fk = frequencyKey(l.App, l.To)
	}
	code := sms.MessageCodeOf(id)
	res, err := scriptBegin.Run(ctx, s.rdb, []string{smsKey(id), msgKey(code), fk},
		ms(s.now()), l.CappingDays, l.CappingCount, id, FrequencyWindow.Milliseconds()).Slice()
	if err != nil {
		return 0, false, false, fmt.Errorf("begin sms %s: %w", id, err)
	}
	switch res[0].(int64) {
	case 1:
		return int(res[1].(int64)), false, true, nil
	case 2:
		return 0, true, false, nil
	}
	return 0, false, false, nil
}

// Outcome is what a send attempt ended with.
type Outcome struct {
	Provider    string
	ProviderRef string
	Segments    int
	Encoding    string
	Error       string
	Operator    string
	// Attempts are the provider calls of this task run, appended to the
	// SMS's history in the same step.
	Attempts []Attempt
}

// MarkSent records that a provider accepted the SMS, and indexes its
// provider reference for receipts. It reports whether the status moved.
func (s *Store) MarkSent(ctx context.Context, id string, o Outcome) (bool, error) {
	return s.transition(ctx, id, sms.Sent, refKey(o.Provider, o.ProviderRef), o.Segments, o.Attempts,
		"p", o.Provider, "r", o.ProviderRef, "sg", o.Segments, "enc", o.Encoding, "e", "", "amb", "0", "op", o.Operator)
}

// MarkFailed records a final failure: the provider's error, or a reason
// of smsfleet's own (too_long, ...).
func (s *Store) MarkFailed(ctx context.Context, id string, o Outcome) (bool, error) {
	return s.transition(ctx, id, sms.Failed, "", 0, o.Attempts, "p", o.Provider, "e", o.Error, "sg", o.Segments, "enc", o.Encoding, "op", o.Operator)
}

// MarkSuppressed records that policy kept the SMS from being sent
// (no_consent, opted_out, frequency_cap, missing_tag).
func (s *Store) MarkSuppressed(ctx context.Context, id, reason string) (bool, error) {
	return s.transition(ctx, id, sms.Suppressed, "", 0, nil, "rs", reason)
}

// MarkExpired records that the SMS was not handed to a provider before its
// deadline (its validity ran out), with why.
func (s *Store) MarkExpired(ctx context.Context, id, why string) (bool, error) {
	return s.transition(ctx, id, sms.Expired, "", 0, nil, "e", why)
}

// ForgetFrequency removes a marketing SMS that never reached its phone from
// the device's frequency-capping window.
func (s *Store) ForgetFrequency(ctx context.Context, app, phone, id string) error {
	if err := s.rdb.ZRem(ctx, frequencyKey(app, phone), id).Err(); err != nil {
		return fmt.Errorf("forget frequency: %w", err)
	}
	return nil
}

// RecordAttempts notes failed provider calls on an SMS that stays sending
// and will be retried: the last provider and whether its failure was
// ambiguous (the retry then goes back to it), the error, the history.
func (s *Store) RecordAttempts(ctx context.Context, id, provider, msg string, ambiguous bool, attempts []Attempt) error {
	amb := 0
	if ambiguous {
		amb = 1
	}
	args := append([]any{ms(s.now()), provider, msg, amb, ttlSeconds(s.retention)}, attemptArgs(attempts)...)
	if err := scriptAttempt.Run(ctx, s.rdb, []string{smsKey(id), attemptsKey(id)}, args...).Err(); err != nil {
		return fmt.Errorf("record attempts: %w", err)
	}
	return nil
}

// Unbegin takes back the attempt Begin (or the load) counted, for an SMS
// that no provider was called for: every breaker was open, or every
// provider throttled. Such waits must not use up the SMS's attempts.
func (s *Store) Unbegin(ctx context.Context, id string) error {
	if err := s.rdb.HIncrBy(ctx, smsKey(id), "a", -1).Err(); err != nil {
		return fmt.Errorf("unbegin: %w", err)
	}
	return nil
}

// ErrUnknownRef is returned by ApplyReceipt for a reference no SMS has (yet).
var ErrUnknownRef = errors.New("unknown provider reference")

// ApplyReceipt moves the SMS a provider reference names to delivered or
// undelivered (with the provider's error code). It reports whether the
// status moved; a receipt for an SMS already final moves nothing.
func (s *Store) ApplyReceipt(ctx context.Context, provider, ref string, to sms.Status, code string) (bool, error) {
	res, err := s.ApplyReceipts(ctx, []sms.Receipt{{Provider: provider, Ref: ref, Status: to, ErrorCode: code}}, 0)
	if err != nil {
		return false, err
	}
	switch res[0] {
	case ReceiptUnknown:
		return false, ErrUnknownRef
	case ReceiptApplied:
		return true, nil
	}
	return false, nil
}

// ReceiptResult says what applying one receipt did.
type ReceiptResult int

const (
	ReceiptApplied   ReceiptResult = iota // the SMS moved
	ReceiptDuplicate                      // the SMS was already there or beyond: a replay moves nothing
	ReceiptUnknown                        // no SMS has the reference (yet): parked when parkTTL > 0
)

// ApplyReceipts applies a batch of receipts in one pipelined round trip.
// A receipt whose reference is not known yet is parked for parkTTL (0:
// not parked): the sent write applies it when it comes.
func (s *Store) ApplyReceipts(ctx context.Context, rs []sms.Receipt, parkTTL time.Duration) ([]ReceiptResult, error) {
	now := s.now()
	cmds, err := s.runPipelined(ctx, func(p redis.Pipeliner) []*redis.Cmd {
		cmds := make([]*redis.Cmd, len(rs))
		for i, r := range rs {
			cmds[i] = scriptReceipt.EvalSha(ctx, p, []string{refKey(r.Provider, r.Ref), parkKey(r.Provider, r.Ref)},
				string(r.Status), ms(now), hourBucket(now), r.ErrorCode, ttlSeconds(parkTTL))
		}
		return cmds
	})
	if err != nil {
		return nil, fmt.Errorf("apply receipts: %w", err)
	}
	out := make([]ReceiptResult, len(rs))
	for i, c := range cmds {
		res, err := c.Slice()
		if err != nil {
			return nil, fmt.Errorf("apply receipt %s/%s: %w", rs[i].Provider, rs[i].Ref, err)
		}
		switch res[0].(int64) {
		case 0:
			out[i] = ReceiptUnknown
		case 1:
			out[i] = ReceiptApplied
		default:
			out[i] = ReceiptDuplicate
		}
	}
	return out, nil
}

func (s *Store) transition(ctx context.Context, id string, to sms.Status, ref string, segments int, attempts []Attempt, pairs ...any) (bool, error) {
	now := s.now()
	args := append([]any{string(to), ms(now), hourBucket(now), ref, ttlSeconds(s.retention), segments, len(pairs) / 2}, pairs...)
	args = append(args, attemptArgs(attempts)...)
	hk := ""
	if len(attempts) > 0 {
		hk = attemptsKey(id)
	}
	res, err := scriptTransition.Run(ctx, s.rdb, []string{smsKey(id), msgKey(sms.MessageCodeOf(id)), hk}, args...).Slice()
	if err != nil {
		return false, fmt.Errorf("sms %s to %s: %w", id, to, err)
	}
	return res[0].(int64) == 1, nil
}

// Materialize creates the records of phones (recipients of a fanned-out
// message, due by deadline) that do not have one yet, in one round trip,
// and returns each one's status: queued ones need a send task.
func (s *Store) Materialize(ctx context.Context, code string, phones []string, deadline time.Time) ([]sms.Status, error) {
	now, ttl, dl := ms(s.now()), ttlSeconds(s.retention), ms(deadline)
	cmds, err := s.runPipelined(ctx, func(p redis.Pipeliner) []*redis.Cmd {
		cmds := make([]*redis.Cmd, len(phones))
		for i, ph := range phones {
			cmds[i] = scriptMaterialize.EvalSha(ctx, p, []string{smsKey(sms.SMSID(code, ph)), msgKey(code)}, ph, now, ttl, dl)
		}
		return cmds
	})
	if err != nil {
		return nil, fmt.Errorf("materialize %s: %w", code, err)
	}
	out := make([]sms.Status, len(cmds))
	for i, c := range cmds {
		st, err := c.Text()
		if err != nil {
			return nil, fmt.Errorf("materialize %s: %w", code, err)
		}
		out[i] = sms.Status(st)
	}
	return out, nil
}
