package worker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"google.golang.org/protobuf/encoding/protowire"
)

// OrphanRecoverer re-runs the tasks of a crashed worker as soon as their
// asynq lease has expired, instead of waiting for asynq's own recoverer.
//
// asynq v0.26.0 hard-codes the numbers that made an orphaned SMS wait
// 55–120 s (issue 12, item 6):
//
//   - internal/rdb/rdb.go:26, LeaseDuration = 30 s: a dequeue and every
//     heartbeat set the task's score in asynq:{q}:lease to now + 30 s;
//   - server.go:516, the heartbeater's interval, 5 s (heartbeat.go:191
//     extends the leases on each beat);
//   - server.go:567, the recoverer's interval, 1 minute, and
//     recoverer.go:83, its cutoff, now − 30 s (for clock skew).
//
// None of them is in asynq.Config. A lease that has expired means its
// worker stopped extending it for 30 s, and the worker's own processor has
// given the task up at that same instant (processor.go:243, lease.Done),
// so re-running it then is exactly what asynq's recoverer does, only
// without the extra 30–90 s. This component does it every Interval with
// asynq's own operations: the scripts below are asynq's retryCmd and
// archiveCmd (internal/rdb/rdb.go) verbatim, with one added guard that
// re-checks, in the same script, that the lease is still expired (a task
// that finished and was dequeued again meanwhile has a fresh lease and is
// left alone). As in asynq's recoverer, the crash counts as a failed
// attempt (retry, or archive once the retries are used up), with the
// servers' own retry delay.
//
// What bounds it: a worker killed right after a heartbeat leaves a lease
// 30 s ahead, so a crashed worker's SMS is re-run 25–30 s after the crash
// plus Skew, Interval, the retry delay of a first failure (0.5–1 s) and
// the forwarder's interval (250 ms): about 27–34 s, down from 55–120 s.
// Getting under 15 s needs a lease shorter than 30 s (asynq has no setting
// for it) or re-running a task whose lease is still valid, which would let
// a worker that is merely cut off from Redis send the same SMS at the
// same time as the re-run: that is what asynq's lease exists to prevent,
// so this component does not do it.
type OrphanRecoverer struct {
	Redis  redis.UniversalClient
	Queues []string
	// Interval between scans (zero: one second).
	Interval time.Duration
	// Skew is how long after its expiry a lease is taken as expired, for
	// clock differences between hosts (zero: OrphanSkew).
	Skew time.Duration
	// RetryDelay and IsFailure are the asynq servers' own (NewServer).
	RetryDelay asynq.RetryDelayFunc
	IsFailure  func(error) bool
	// Now is the fleet's clock (nil: time.Now).
	Now func() time.Time
	Log *zap.Logger
	// Recovered is called for each task moved (tests count with it).
	Recovered func(queue, id string, lease int64, archived bool)
}

// OrphanSkew is the default margin for clock differences between hosts.
const OrphanSkew = 2 * time.Second

// NewOrphanRecoverer recovers the lanes' queues with the worker's retry
// settings (the same as NewServer's).
func NewOrphanRecoverer(rdb redis.UniversalClient, queues []string, retryBase, retryMax time.Duration, now func() time.Time, log *zap.Logger) *OrphanRecoverer {
	return &OrphanRecoverer{
		Redis: rdb, Queues: queues,
		RetryDelay: retryDelay(Backoff(retryBase, retryMax)), IsFailure: isFailure,
		Now: now, Log: log,
	}
}

// Name names the component in the supervisor's logs.
func (o *OrphanRecoverer) Name() string { return "orphan-recoverer" }

// Run scans until ctx is done. A failed scan is logged and retried at the
// next tick.
func (o *OrphanRecoverer) Run(ctx context.Context) error {
	interval := o.Interval
	if interval <= 0 {
		interval = time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := o.Recover(ctx); err != nil && ctx.Err() == nil {
			o.log().Warn("orphaned tasks not recovered; retrying", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (o *OrphanRecoverer) log() *zap.Logger {
	if o.Log == nil {
		return zap.NewNop()
	}
	return o.Log
}

func (o *OrphanRecoverer) now() time.Time {
	if o.Now == nil {
		return time.Now()
	}
	return o.Now()
}

// errLeaseExpired is the message asynq's recoverer records
// (asynq.ErrLeaseExpired).
var errLeaseExpired = asynq.ErrLeaseExpired

// Recover moves every task whose lease expired (by more than Skew) to
// retry, or to the archive when its retries are used up, and returns how
// many it moved.
func (o *OrphanRecoverer) Recover(ctx context.Context) (int, error) {
	skew := o.Skew
	if skew <= 0 {
		skew = OrphanSkew
	}
	now := o.now()
	// Lease scores are whole seconds rounded down from the real deadline,
	// so a score below now−skew−1 s is a deadline before now−skew.
	cutoff := now.Add(-skew).Unix() - 1
	moved := 0
	var errs []error
	for _, q := range o.Queues {
		ids, err := o.Redis.ZRangeByScoreWithScores(ctx, leaseKey(q), &redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(cutoff, 10)}).Result()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, z := range ids {
			id, _ := z.Member.(string)
			ok, archived, err := o.recoverOne(ctx, q, id, cutoff, now)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s %s: %w", q, id, err))
				continue
			}
			if ok {
				moved++
				o.log().Warn("re-ran a task whose worker died", zap.String("queue", q), zap.String("task", id),
					zap.Time("lease", time.Unix(int64(z.Score), 0)), zap.Bool("archived", archived))
				if o.Recovered != nil {
					o.Recovered(q, id, int64(z.Score), archived)
				}
			}
		}
	}
	return moved, errors.Join(errs...)
}

func (o *OrphanRecoverer) recoverOne(ctx context.Context, q, id string, cutoff int64, now time.Time) (ok, archived bool, err error) {
	raw, err := o.Redis.HGet(ctx, taskKey(q, id), "msg").Bytes()
	if errors.Is(err, redis.Nil) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	m, err := decodeTaskMsg(raw)
	if err != nil {
		return false, false, err
	}
	if m.retried >= m.retry {
		archived = true
		err = o.archive(ctx, q, id, raw, cutoff, now)
	} else {
		err = o.retry(ctx, q, id, raw, m, cutoff, now)
	}
	if err != nil {
		if isNotFound(err) { // finished, or re-leased, meanwhile
			return false, false, nil
		}
		return false, false, err
	}
	return true, archived, nil
}

func (o *OrphanRecoverer) retry(ctx context.Context, q, id string, raw []byte, m taskMsg, cutoff int64, now time.Time) error {
	failure := o.IsFailure == nil || o.IsFailure(errLeaseExpired)
	retried := m.retried
	if failure {
		retried++
	}
	var delay time.Duration
	if o.RetryDelay != nil {
		delay = o.RetryDelay(int(m.retried), errLeaseExpired, asynq.NewTask(m.typ, m.payload))
	}
	encoded := reencodeTaskMsg(raw, &retried, errLeaseExpired.Error(), now.Unix())
	keys := []string{
		taskKey(q, id), queueKey(q, "active"), leaseKey(q), queueKey(q, "retry"),
		queueKey(q, "processed:"+now.UTC().Format("2006-01-02")), queueKey(q, "failed:"+now.UTC().Format("2006-01-02")),
		queueKey(q, "processed"), queueKey(q, "failed"),
	}
	return retryScript.Run(ctx, o.Redis, keys, id, encoded, now.Add(delay).Unix(), now.Add(statsTTL).Unix(), failure, int64(math.MaxInt64), cutoff).Err()
}

func (o *OrphanRecoverer) archive(ctx context.Context, q, id string, raw []byte, cutoff int64, now time.Time) error {
	encoded := reencodeTaskMsg(raw, nil, errLeaseExpired.Error(), now.Unix())
	keys := []string{
		taskKey(q, id), queueKey(q, "active"), leaseKey(q), queueKey(q, "archived"),
		queueKey(q, "processed:"+now.UTC().Format("2006-01-02")), queueKey(q, "failed:"+now.UTC().Format("2006-01-02")),
		queueKey(q, "processed"), queueKey(q, "failed"), queueKey(q, "t:"),
	}
	return archiveScript.Run(ctx, o.Redis, keys, id, encoded, now.Unix(), now.AddDate(0, 0, -archivedExpirationInDays).Unix(),
		maxArchiveSize, now.Add(statsTTL).Unix(), int64(math.MaxInt64), cutoff).Err()
}

func isNotFound(err error) bool {
	return err != nil && err.Error() == "NOT FOUND"
}

// asynq's key layout (internal/base) and constants (internal/rdb).
func queueKey(q, suffix string) string { return "asynq:{" + q + "}:" + suffix }
func leaseKey(q string) string         { return queueKey(q, "lease") }
func taskKey(q, id string) string      { return queueKey(q, "t:"+id) }

const (
	statsTTL                 = 90 * 24 * time.Hour
	maxArchiveSize           = 10000
	archivedExpirationInDays = 90
)

// leaseGuard is the one line added to asynq's scripts: the lease must
// still be expired (at or below the cutoff, last ARGV) when the move runs.
const leaseGuard = `
local lease = redis.call("ZSCORE", KEYS[3], ARGV[1])
if not lease or tonumber(lease) > tonumber(ARGV[#ARGV]) then
  return redis.error_reply("NOT FOUND")
end
`

// retryScript is asynq v0.26.0's retryCmd (internal/rdb/rdb.go) after
// leaseGuard; ARGV[7] is the cutoff.
var retryScript = redis.NewScript(leaseGuard + `
if redis.call("LREM", KEYS[2], 0, ARGV[1]) == 0 then
  return redis.error_reply("NOT FOUND")
end
if redis.call("ZREM", KEYS[3], ARGV[1]) == 0 then
  return redis.error_reply("NOT FOUND")
end
redis.call("ZADD", KEYS[4], ARGV[3], ARGV[1])
redis.call("HSET", KEYS[1], "msg", ARGV[2], "state", "retry")
if tonumber(ARGV[5]) == 1 then
	local n = redis.call("INCR", KEYS[5])
	if tonumber(n) == 1 then
		redis.call("EXPIREAT", KEYS[5], ARGV[4])
	end
	local m = redis.call("INCR", KEYS[6])
	if tonumber(m) == 1 then
		redis.call("EXPIREAT", KEYS[6], ARGV[4])
	end
    local total = redis.call("GET", KEYS[7])
    if tonumber(total) == tonumber(ARGV[6]) then
    	redis.call("SET", KEYS[7], 1)
    	redis.call("SET", KEYS[8], 1)
    else
    	redis.call("INCR", KEYS[7])
    	redis.call("INCR", KEYS[8])
    end
end
return redis.status_reply("OK")`)

// archiveScript is asynq v0.26.0's archiveCmd after leaseGuard; ARGV[8]
// is the cutoff.
var archiveScript = redis.NewScript(leaseGuard + `
if redis.call("LREM", KEYS[2], 0, ARGV[1]) == 0 then
  return redis.error_reply("NOT FOUND")
end
if redis.call("ZREM", KEYS[3], ARGV[1]) == 0 then
  return redis.error_reply("NOT FOUND")
end
redis.call("ZADD", KEYS[4], ARGV[3], ARGV[1])
local old = redis.call("ZRANGE", KEYS[4], "-inf", ARGV[4], "BYSCORE")
if #old > 0 then
	for _, id in ipairs(old) do
		redis.call("DEL", KEYS[9] .. id)
	end
	redis.call("ZREM", KEYS[4], unpack(old))
end

local extra = redis.call("ZRANGE", KEYS[4], 0, -ARGV[5])
if #extra > 0 then
	for _, id in ipairs(extra) do
		redis.call("DEL", KEYS[9] .. id)
	end
	redis.call("ZREM", KEYS[4], unpack(extra))
end

redis.call("HSET", KEYS[1], "msg", ARGV[2], "state", "archived")
local n = redis.call("INCR", KEYS[5])
if tonumber(n) == 1 then
	redis.call("EXPIREAT", KEYS[5], ARGV[6])
end
local m = redis.call("INCR", KEYS[6])
if tonumber(m) == 1 then
	redis.call("EXPIREAT", KEYS[6], ARGV[6])
end
local total = redis.call("GET", KEYS[7])
if tonumber(total) == tonumber(ARGV[7]) then
   	redis.call("SET", KEYS[7], 1)
   	redis.call("SET", KEYS[8], 1)
else
  	redis.call("INCR", KEYS[7])
   	redis.call("INCR", KEYS[8])
end
return redis.status_reply("OK")`)

// taskMsg holds the fields of asynq's TaskMessage (internal/proto,
// asynq.proto) the recovery reads.
type taskMsg struct {
	typ            string
	payload        []byte
	retry, retried int32
}

// TaskMessage field numbers (asynq.proto).
const (
	fieldType         = 1
	fieldPayload      = 2
	fieldRetry        = 5
	fieldRetried      = 6
	fieldErrorMsg     = 7
	fieldLastFailedAt = 11
)

func decodeTaskMsg(b []byte) (taskMsg, error) {
	var m taskMsg
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return m, fmt.Errorf("task message: %w", protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case num == fieldType && typ == protowire.BytesType:
			v, k := protowire.ConsumeBytes(b)
			if k < 0 {
				return m, protowire.ParseError(k)
			}
			m.typ, n = string(v), k
		case num == fieldPayload && typ == protowire.BytesType:
			v, k := protowire.ConsumeBytes(b)
			if k < 0 {
				return m, protowire.ParseError(k)
			}
			m.payload, n = v, k
		case (num == fieldRetry || num == fieldRetried) && typ == protowire.VarintType:
			v, k := protowire.ConsumeVarint(b)
			if k < 0 {
				return m, protowire.ParseError(k)
			}
			if num == fieldRetry {
				m.retry = int32(v)
			} else {
				m.retried = int32(v)
			}
			n = k
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return m, protowire.ParseError(n)
			}
		}
		b = b[n:]
	}
	return m, nil
}

// reencodeTaskMsg is asynq's rdb.Retry / rdb.Archive change to the
// message: retried (when given), error_msg and last_failed_at replaced,
// every other field kept as it was.
func reencodeTaskMsg(b []byte, retried *int32, errMsg string, failedAt int64) []byte {
	out := make([]byte, 0, len(b)+len(errMsg)+16)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			break // decodeTaskMsg already validated it
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			break
		}
		drop := num == fieldErrorMsg || num == fieldLastFailedAt || (retried != nil && num == fieldRetried)
		if !drop {
			out = append(out, b[:n+m]...)
		}
		b = b[n+m:]
	}
	if retried != nil && *retried != 0 {
		out = protowire.AppendTag(out, fieldRetried, protowire.VarintType)
		out = protowire.AppendVarint(out, uint64(*retried))
	}
	if errMsg != "" {
		out = protowire.AppendTag(out, fieldErrorMsg, protowire.BytesType)
		out = protowire.AppendString(out, errMsg)
	}
	if failedAt != 0 {
		out = protowire.AppendTag(out, fieldLastFailedAt, protowire.VarintType)
		out = protowire.AppendVarint(out, uint64(failedAt))
	}
	return out
}
