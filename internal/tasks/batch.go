package tasks

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/smsfleet/smsfleet/internal/sms"
)

// DefaultBatchSize is how many SMS one sms:send-batch task carries at most
// unless SMSFLEET_WORKER_BATCH says otherwise.
const DefaultBatchSize = 64

// batchRef is one SMS of a batch payload, with short names: a fan-out
// writes one payload per batch, and its size is Redis memory while the
// batch waits.
type batchRef struct {
	ID    string `json:"i"`
	App   string `json:"a"`
	Phone string `json:"p"`
}

// SendBatch returns the task that sends many SMS of the lane of typ in one
// run of the worker's pipeline (docs/decisions.md#21). id must be
// deterministic for what the batch holds (FanoutBatchID, IntakeBatchID),
// so a batch enqueued twice exists once. Every SMS still ends in its own
// outcome: the worker turns an SMS the batch could not finish into a
// follow-up sms:send task of that SMS alone.
//
// The batch's queue is the lane's shard of the batch id, not of its SMS:
// each SMS's own task (a follow-up, an outbox repair) goes to the shard of
// the SMS id, which worker.ownedElsewhere checks.
func SendBatch(id string, refs []SendPayload, typ sms.Type, shards sms.Shards, maxRetry int, timeout time.Duration) *asynq.Task {
	out := batchPayload{Type: string(typ), SMS: make([]batchRef, len(refs))}
	for i, r := range refs {
		out.SMS[i] = batchRef{ID: r.ID, App: r.App, Phone: r.Phone}
	}
	b, _ := json.Marshal(out) // strings only: cannot fail
	return asynq.NewTask(TypeSendBatch, b,
		asynq.TaskID(id), asynq.Queue(shards.Queue(typ.Lane(), id)), asynq.MaxRetry(maxRetry), asynq.Timeout(timeout))
}

// batchPayload is a batch task's payload: the SMS type of its lane and
// its SMS.
type batchPayload struct {
	Type string     `json:"t"`
	SMS  []batchRef `json:"s"`
}

// ParseSendBatch reads a batch task's payload: its SMS and their type.
func ParseSendBatch(b []byte) ([]SendPayload, sms.Type, error) {
	var in batchPayload
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, "", fmt.Errorf("send batch payload: %w", err)
	}
	typ, err := sms.ParseType(in.Type)
	if err != nil || in.Type == "" {
		return nil, "", fmt.Errorf("send batch payload: SMS type %q: want otp, transactional or marketing", in.Type)
	}
	out := make([]SendPayload, len(in.SMS))
	for i, r := range in.SMS {
		if r.ID == "" {
			return nil, "", fmt.Errorf("send batch payload: SMS %d has no id", i)
		}
		out[i] = SendPayload{ID: r.ID, App: r.App, Phone: r.Phone}
	}
	return out, typ, nil
}

// FanoutBatchID names batch n, of size, of chunk c of time zone group g
// of a message: the recipients at positions [n·size, (n+1)·size) of the
// chunk. A re-run fan-out builds the same batches from the same positions
// and asynq refuses the ids it already holds. The size is in the id so a
// re-run under another SMSFLEET_WORKER_BATCH never takes an id whose
// batch holds other positions (its recipients would have no task).
func FanoutBatchID(code string, group, chunk, n, size int) string {
	return "sb:" + code + "#" + strconv.Itoa(group) + ":" + strconv.Itoa(chunk) + ":" + strconv.Itoa(n) + "/" + strconv.Itoa(size)
}

// IntakeBatchID names a batch of single sends the intake wrote together:
// by its first SMS, whose id is unique and belongs to this batch alone.
func IntakeBatchID(firstSMS string) string { return "sb:" + firstSMS }
