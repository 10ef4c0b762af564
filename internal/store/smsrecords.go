package store

import (
	"context"
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
	Attempts    int
	UpdatedAt   time.Time
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
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, smsKey(id))
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
			ProviderRef: h["r"], Segments: seg, Encoding: h["enc"], Error: h["e"], Attempts: att, UpdatedAt: fromMS(h["up"]),
		}
	}
	return out, nil
}

// Claim is what a worker needs to send an SMS it has taken.
type Claim struct {
	To       string
	Content  string
	Sender   string
	Type     sms.Type
	Attempts int
}

// ClaimSMS takes an SMS for sending in one round trip: queued moves to
// sending, sending (a retry) is taken again. ok is false when the SMS is in
// any other status (canceled, already sent, ...): the task is then done.
func (s *Store) ClaimSMS(ctx context.Context, id string) (c Claim, status sms.Status, ok bool, err error) {
	code := sms.MessageCodeOf(id)
	res, err := scriptClaim.Run(ctx, s.rdb, []string{smsKey(id), msgKey(code), keyOutbox}, ms(s.now()), code).Slice()
	if err != nil {
		return Claim{}, "", false, fmt.Errorf("claim sms %s: %w", id, err)
	}
	if res[0].(int64) == 0 {
		return Claim{}, sms.Status(res[1].(string)), false, nil
	}
	return Claim{
		To: res[1].(string), Content: res[2].(string), Sender: res[3].(string),
		Type: sms.Type(res[4].(string)), Attempts: int(res[5].(int64)),
	}, sms.Sending, true, nil
}

// Outcome is what a send attempt ended with.
type Outcome struct {
	Provider    string
	ProviderRef string
	Segments    int
	Encoding    string
	Error       string
}

// MarkSent records that a provider accepted the SMS, and indexes its
// provider reference for receipts. It reports whether the status moved.
func (s *Store) MarkSent(ctx context.Context, id string, o Outcome) (bool, error) {
	return s.transition(ctx, id, sms.Sent, refKey(o.Provider, o.ProviderRef),
		"p", o.Provider, "r", o.ProviderRef, "sg", o.Segments, "enc", o.Encoding, "e", "")
}

// MarkFailed records a final failure with the provider's error.
func (s *Store) MarkFailed(ctx context.Context, id string, o Outcome) (bool, error) {
	return s.transition(ctx, id, sms.Failed, "", "p", o.Provider, "e", o.Error, "sg", o.Segments, "enc", o.Encoding)
}

// RecordAttemptError notes the last transient error on an SMS that stays
// sending and will be retried; it does not change the status.
func (s *Store) RecordAttemptError(ctx context.Context, id, provider, msg string) error {
	if err := s.rdb.HSet(ctx, smsKey(id), "p", provider, "e", msg, "up", ms(s.now())).Err(); err != nil {
		return fmt.Errorf("record attempt error: %w", err)
	}
	return nil
}

func (s *Store) transition(ctx context.Context, id string, to sms.Status, ref string, pairs ...any) (bool, error) {
	now := s.now()
	args := append([]any{string(to), ms(now), hourBucket(now), ref, ttlSeconds(s.retention), len(pairs) / 2}, pairs...)
	res, err := scriptTransition.Run(ctx, s.rdb, []string{smsKey(id), msgKey(sms.MessageCodeOf(id))}, args...).Slice()
	if err != nil {
		return false, fmt.Errorf("sms %s to %s: %w", id, to, err)
	}
	return res[0].(int64) == 1, nil
}

// Materialize creates the records of phones (recipients of a fanned-out
// message) that do not have one yet, in one round trip, and returns each
// one's status: queued ones need a send task.
func (s *Store) Materialize(ctx context.Context, code string, phones []string) ([]sms.Status, error) {
	now, ttl := ms(s.now()), ttlSeconds(s.retention)
	cmds, err := s.runPipelined(ctx, func(p redis.Pipeliner) []*redis.Cmd {
		cmds := make([]*redis.Cmd, len(phones))
		for i, ph := range phones {
			cmds[i] = scriptMaterialize.EvalSha(ctx, p, []string{smsKey(sms.SMSID(code, ph)), msgKey(code)}, ph, now, ttl)
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
