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

// Message is one createMessage notification and what became of it.
type Message struct {
	App           string
	Code          string
	Type          sms.Type
	Content       string
	Sender        string
	CreatedAt     time.Time
	SendAt        time.Time
	Timezone      string
	TransactionID string
	Recipients    int
	ChunkSize     int
	// Direct is a single recipient sent now: its SMS record is written with
	// the message and its send task is enqueued straight onto the lane.
	Direct bool
	// To is the one recipient of a direct message.
	To       string
	Canceled bool
	// Fanout is "" (not started), "started", "done", "canceled" or "direct".
	Fanout string
	Counts map[sms.Status]int64
	// Hourly holds counts by action ("send", ...) and UTC hour (YYYYMMDDHH).
	Hourly map[string]map[string]int64
}

// Pending reports how many SMS of the message can still be canceled.
func (m Message) Pending() int64 { return m.Counts[sms.Scheduled] + m.Counts[sms.Queued] }

// Chunks is how many recipient chunks the message has.
func (m Message) Chunks() int {
	if m.ChunkSize == 0 {
		return 0
	}
	return (m.Recipients + m.ChunkSize - 1) / m.ChunkSize
}

// CreateMessage writes m with its recipients (E.164, deduplicated) in one
// atomic step. With a transactionId seen in the last 24 hours it writes
// nothing and returns the earlier code and created=false.
func (s *Store) CreateMessage(ctx context.Context, m *Message, recipients []string) (code string, created bool, err error) {
	now := s.now()
	m.CreatedAt = now
	m.Recipients = len(recipients)
	fanout := ""
	if m.Direct {
		if len(recipients) != 1 {
			return "", false, fmt.Errorf("create message: direct send needs exactly one recipient, got %d", len(recipients))
		}
		fanout = "direct"
		m.To = recipients[0]
	}
	msgPairs := []any{
		"app", m.App, "type", string(m.Type), "content", m.Content, "sender", m.Sender,
		"ct", ms(now), "sa", ms(m.SendAt), "tz", m.Timezone, "txn", m.TransactionID,
		"n", m.Recipients, "cs", m.ChunkSize, "fo", fanout,
	}
	var smsPairs []any
	smsK := ""
	if m.Direct {
		msgPairs = append(msgPairs, fieldCount+string(sms.Queued), 1, "to", recipients[0])
		smsK = smsKey(sms.SMSID(m.Code, recipients[0]))
		smsPairs = []any{"m", m.Code, "to", recipients[0], "st", string(sms.Queued), "up", ms(now)}
	} else if len(recipients) > 0 {
		msgPairs = append(msgPairs, fieldCount+string(sms.Scheduled), len(recipients))
	}
	txK := ""
	if m.TransactionID != "" {
		txK = txnKey(m.App, m.TransactionID)
	}
	// Keep the message for the retention period after it is due, however far
	// ahead it is scheduled.
	ttl := ttlSeconds(s.retention + max(m.SendAt.Sub(now), 0))
	args := []any{m.Code, ttl, ms(now), int64(24 * time.Hour / time.Second), chunkPrefix(m.Code), len(msgPairs) / 2, len(smsPairs) / 2}
	args = append(args, msgPairs...)
	args = append(args, smsPairs...)
	if !m.Direct {
		for i := 0; i < len(recipients); i += m.ChunkSize {
			args = append(args, joinChunk(recipients[i:min(i+m.ChunkSize, len(recipients))]))
		}
	}
	keys := []string{msgKey(m.Code), msgListKey(m.App), msgSeqKey(m.App), keyOutbox, txK, smsK}
	res, err := scriptCreateMessage.Run(ctx, s.rdb, keys, args...).Slice()
	if err != nil {
		return "", false, fmt.Errorf("create message: %w", err)
	}
	return res[1].(string), res[0].(int64) == 1, nil
}

// MessageCodeForTransaction returns the code stored for a transactionId.
func (s *Store) MessageCodeForTransaction(ctx context.Context, app, txn string) (string, error) {
	code, err := s.rdb.Get(ctx, txnKey(app, txn)).Result()
	if errors.Is(err, redis.Nil) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("transaction lookup: %w", err)
	}
	return code, nil
}

// GetMessage loads a message of app. Another application's message is
// ErrNotFound.
func (s *Store) GetMessage(ctx context.Context, app, code string) (Message, error) {
	h, err := s.rdb.HGetAll(ctx, msgKey(code)).Result()
	if err != nil {
		return Message{}, fmt.Errorf("get message: %w", err)
	}
	if len(h) == 0 || (app != "" && h["app"] != app) {
		return Message{}, ErrNotFound
	}
	return parseMessage(code, h), nil
}

func parseMessage(code string, h map[string]string) Message {
	atoi := func(k string) int { n, _ := strconv.Atoi(h[k]); return n }
	m := Message{
		App: h["app"], Code: code, Type: sms.Type(h["type"]), Content: h["content"], Sender: h["sender"],
		CreatedAt: fromMS(h["ct"]), SendAt: fromMS(h["sa"]), Timezone: h["tz"], TransactionID: h["txn"],
		Recipients: atoi("n"), To: h["to"], ChunkSize: atoi("cs"), Direct: h["fo"] == "direct", Canceled: h["canceled"] == "1",
		Fanout: h["fo"], Counts: map[sms.Status]int64{}, Hourly: map[string]map[string]int64{},
	}
	for k, v := range h {
		n, _ := strconv.ParseInt(v, 10, 64)
		if st, ok := strings.CutPrefix(k, fieldCount); ok {
			if n != 0 {
				m.Counts[sms.Status(st)] = n
			}
		} else if rest, ok := strings.CutPrefix(k, "h:"); ok {
			action, hour, _ := strings.Cut(rest, ":")
			if m.Hourly[action] == nil {
				m.Hourly[action] = map[string]int64{}
			}
			m.Hourly[action][hour] = n
		}
	}
	return m
}

// ListMessages returns app's messages newest first, at most limit, starting
// after cursor (0 for the first page). next is 0 on the last page.
func (s *Store) ListMessages(ctx context.Context, app string, limit int, cursor int64) (msgs []Message, next int64, err error) {
	max := "+inf"
	if cursor > 0 {
		max = "(" + strconv.FormatInt(cursor, 10)
	}
	zs, err := s.rdb.ZRevRangeByScoreWithScores(ctx, msgListKey(app), &redis.ZRangeBy{Max: max, Min: "-inf", Count: int64(limit) + 1}).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("list messages: %w", err)
	}
	if len(zs) > limit {
		next = int64(zs[limit-1].Score)
		zs = zs[:limit]
	}
	cmds := make([]*redis.MapStringStringCmd, len(zs))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, z := range zs {
			cmds[i] = p.HGetAll(ctx, msgKey(z.Member.(string)))
		}
		return nil
	}); err != nil {
		return nil, 0, fmt.Errorf("list messages: %w", err)
	}
	var expired []any
	for i, c := range cmds {
		code := zs[i].Member.(string)
		if len(c.Val()) == 0 { // past retention: drop the stale index entry
			expired = append(expired, code)
			continue
		}
		msgs = append(msgs, parseMessage(code, c.Val()))
	}
	if len(expired) > 0 {
		s.rdb.ZRem(ctx, msgListKey(app), expired...)
	}
	return msgs, next, nil
}

// Recipients returns up to limit recipients of m from offset on, with their
// SMS records; a recipient whose record does not exist yet is reported
// scheduled (or canceled). next is -1 on the last page.
func (s *Store) Recipients(ctx context.Context, m Message, offset, limit int) (out []SMS, next int, err error) {
	if offset >= m.Recipients || limit <= 0 {
		return nil, -1, nil
	}
	end := min(offset+limit, m.Recipients)
	var phones []string
	if m.Direct {
		phones = []string{m.To}
	} else {
		first, last := offset/m.ChunkSize, (end-1)/m.ChunkSize
		keys := make([]string, 0, last-first+1)
		for c := first; c <= last; c++ {
			keys = append(keys, chunkPrefix(m.Code)+strconv.Itoa(c))
		}
		vals, err := s.rdb.MGet(ctx, keys...).Result()
		if err != nil {
			return nil, -1, fmt.Errorf("recipients: %w", err)
		}
		for _, v := range vals {
			str, _ := v.(string)
			phones = append(phones, splitChunk(str)...)
		}
		base := first * m.ChunkSize
		phones = phones[min(offset-base, len(phones)):min(end-base, len(phones))]
	}
	ids := make([]string, len(phones))
	for i, p := range phones {
		ids[i] = sms.SMSID(m.Code, p)
	}
	recs, err := s.GetSMSBatch(ctx, ids)
	if err != nil {
		return nil, -1, err
	}
	for i, r := range recs {
		if r.ID == "" {
			st := sms.Scheduled
			if m.Fanout == "canceled" {
				st = sms.Canceled
			}
			r = SMS{ID: ids[i], Code: m.Code, To: phones[i], Status: st}
		}
		out = append(out, r)
	}
	next = end
	if end >= m.Recipients {
		next = -1
	}
	return out, next, nil
}

// RecipientChunk returns chunk i of a fanned-out message.
func (s *Store) RecipientChunk(ctx context.Context, code string, i int) ([]string, error) {
	v, err := s.rdb.Get(ctx, chunkPrefix(code)+strconv.Itoa(i)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("recipient chunk %d of %s: %w", i, code, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("recipient chunk %d of %s: %w", i, code, err)
	}
	return splitChunk(v), nil
}

// StartFanout marks the fan-out of code as started and clears its outbox
// entry. It returns false when the message was canceled before it started
// (nothing to do) and ErrNotFound when it does not exist.
func (s *Store) StartFanout(ctx context.Context, code string) (bool, error) {
	r, err := scriptFanoutStart.Run(ctx, s.rdb, []string{msgKey(code), keyOutbox}, code).Text()
	if err != nil {
		return false, fmt.Errorf("start fan-out: %w", err)
	}
	switch r {
	case "missing":
		return false, ErrNotFound
	case "canceled":
		return false, nil
	}
	return true, nil
}

// FinishFanout records that every recipient of code has a record.
func (s *Store) FinishFanout(ctx context.Context, code string) error {
	if err := s.rdb.HSet(ctx, msgKey(code), "fo", "done").Err(); err != nil {
		return fmt.Errorf("finish fan-out: %w", err)
	}
	return nil
}

// ErrAlreadySent is returned by CancelMessage when nothing is left pending.
var ErrAlreadySent = errors.New("message already sent")

// CancelResult says what CancelMessage did.
type CancelResult struct {
	// BeforeFanout is true when the fan-out had not started: every
	// recipient was canceled at once and the dispatch task is moot.
	BeforeFanout bool
	Canceled     int64
}

// CancelMessage cancels every SMS of m not yet handed to a provider.
func (s *Store) CancelMessage(ctx context.Context, m Message) (CancelResult, error) {
	r, err := scriptCancel.Run(ctx, s.rdb, []string{msgKey(m.Code)}, ms(s.now())).Text()
	if err != nil {
		return CancelResult{}, fmt.Errorf("cancel message: %w", err)
	}
	switch r {
	case "sent":
		return CancelResult{}, ErrAlreadySent
	case "unmaterialized":
		return CancelResult{BeforeFanout: true, Canceled: m.Counts[sms.Scheduled]}, nil
	}
	// Records exist: cancel them one by one, chunk by chunk, creating the
	// ones the fan-out has not reached yet as canceled.
	var canceled int64
	now, ttl := ms(s.now()), ttlSeconds(s.retention)
	cancelBatch := func(phones []string) error {
		cmds, err := s.runPipelined(ctx, func(p redis.Pipeliner) []*redis.Cmd {
			cmds := make([]*redis.Cmd, len(phones))
			for i, ph := range phones {
				cmds[i] = scriptCancelSMS.EvalSha(ctx, p, []string{smsKey(sms.SMSID(m.Code, ph)), msgKey(m.Code)}, ph, now, ttl)
			}
			return cmds
		})
		if err != nil {
			return err
		}
		for _, c := range cmds {
			if n, _ := c.Int(); n == 1 {
				canceled++
			}
		}
		return nil
	}
	if m.Direct {
		err = cancelBatch([]string{m.To})
		return CancelResult{Canceled: canceled}, err
	}
	for c := 0; c < m.Chunks(); c++ {
		phones, err := s.RecipientChunk(ctx, m.Code, c)
		if err != nil {
			return CancelResult{Canceled: canceled}, err
		}
		if err := cancelBatch(phones); err != nil {
			return CancelResult{Canceled: canceled}, err
		}
	}
	return CancelResult{Canceled: canceled}, nil
}

// OutboxDue returns message codes written before cutoff whose enqueue was
// never confirmed (the intake crashed between writing and enqueueing).
func (s *Store) OutboxDue(ctx context.Context, cutoff time.Time, limit int) ([]string, error) {
	codes, err := s.rdb.ZRangeByScore(ctx, keyOutbox, &redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(ms(cutoff), 10), Count: int64(limit)}).Result()
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	return codes, nil
}

// OutboxDone clears a message's outbox entry once its task is enqueued.
func (s *Store) OutboxDone(ctx context.Context, code string) error {
	if err := s.rdb.ZRem(ctx, keyOutbox, code).Err(); err != nil {
		return fmt.Errorf("outbox done: %w", err)
	}
	return nil
}

// SaveStatsRequest remembers a getMsgStats request for an hour.
func (s *Store) SaveStatsRequest(ctx context.Context, id, app, code string) error {
	if err := s.rdb.Set(ctx, statsReqKey(id), app+"\n"+code, time.Hour).Err(); err != nil {
		return fmt.Errorf("save stats request: %w", err)
	}
	return nil
}

// StatsRequest returns the message code of app's getMsgStats request id.
func (s *Store) StatsRequest(ctx context.Context, app, id string) (string, error) {
	v, err := s.rdb.Get(ctx, statsReqKey(id)).Result()
	if errors.Is(err, redis.Nil) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("stats request: %w", err)
	}
	a, code, _ := strings.Cut(v, "\n")
	if a != app {
		return "", ErrNotFound
	}
	return code, nil
}
