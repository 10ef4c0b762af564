// Package tasks names the Asynq tasks smsfleet runs and builds them with
// their deterministic ids (docs/decisions.md#3): a task is enqueued at most
// once per id while it exists, so a retried request or a re-run fan-out
// cannot double-enqueue.
package tasks

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/smsfleet/smsfleet/internal/sms"
)

// Task types.
const (
	TypeSend = "sms:send"
	// TypeSendBatch carries many SMS of one lane (batch.go).
	TypeSendBatch = "sms:send-batch"
	TypeDispatch  = "sms:dispatch"
	TypeCallback  = "sms:callback"
)

// CallbackQueue carries status callbacks, away from the send lanes: a slow
// customer endpoint must never hold a slot an SMS needs.
const CallbackQueue = "callbacks"

// SendPayload is what a send task carries: the SMS id, and the
// application and phone that name the device and opt-out keys the worker
// reads with it (so its load is one round trip and every key it touches is
// named up front). The state lives in Redis and is read at send time.
//
// Retried is the retries an SMS already had before this task existed: a
// batch's follow-up task of one SMS (worker/batch.go) carries the retry
// count the batch task had, so its asynq budget and backoff continue
// where the batch's left off. Zero for every other send task.
type SendPayload struct {
	ID, App, Phone string
	Retried        int
}

// SendRetryBudget is the asynq retry budget of a send task: twice the
// SMS's provider attempts, because the worker's claim counts attempts and
// fails the SMS itself, so asynq's budget only has to outlast crashes and
// Redis hiccups that happen before an attempt is counted.
func SendRetryBudget(maxAttempts int) int { return 2 * maxAttempts }

// Send returns the task that sends SMS id on the lane of typ, with the
// id-only payload of earlier versions (the worker then reads the
// application and phone from Redis first).
func Send(id string, typ sms.Type, shards sms.Shards, maxRetry int, timeout time.Duration) *asynq.Task {
	return SendFor(SendPayload{ID: id}, typ, shards, maxRetry, timeout)
}

// SendFor returns the task that sends p.ID on the lane of typ, in the
// lane's queue of the SMS id. The task id is the SMS id whatever the
// payload holds; with the queue a function of it too, an SMS has one task
// whoever enqueues it (intake, fan-out, outbox sweeper, a batch's
// follow-up).
func SendFor(p SendPayload, typ sms.Type, shards sms.Shards, maxRetry int, timeout time.Duration) *asynq.Task {
	payload := p.ID
	if p.App != "" && p.Phone != "" {
		payload += "\n" + p.App + "\n" + p.Phone
		if p.Retried > 0 {
			payload += "\n" + strconv.Itoa(p.Retried)
		}
	}
	return asynq.NewTask(TypeSend, []byte(payload),
		asynq.TaskID(p.ID), asynq.Queue(shards.Queue(typ.Lane(), p.ID)), asynq.MaxRetry(maxRetry), asynq.Timeout(timeout))
}

// ParseSend reads a send task's payload: "id\napp\nphone" with an
// optional fourth line, the retries carried over (SendPayload.Retried),
// or the id alone (tasks enqueued by earlier versions), which leaves App
// and Phone empty.
func ParseSend(b []byte) SendPayload {
	id, rest, ok := strings.Cut(string(b), "\n")
	if !ok {
		return SendPayload{ID: id}
	}
	app, rest, _ := strings.Cut(rest, "\n")
	phone, retried, _ := strings.Cut(rest, "\n")
	n, _ := strconv.Atoi(retried)
	return SendPayload{ID: id, App: app, Phone: phone, Retried: max(n, 0)}
}

// Dispatch returns the fan-out task of one time zone group of a message,
// due in delay (a duration, not a time, so an injected clock in tests maps
// onto asynq's real one). Its id and payload are DispatchID(code, group);
// its queue is DispatchQueue(code).
func Dispatch(code string, group int, shards sms.Shards, delay time.Duration) *asynq.Task {
	id := DispatchID(code, group)
	return asynq.NewTask(TypeDispatch, []byte(id),
		asynq.TaskID(id), asynq.Queue(DispatchQueue(code, shards)), asynq.ProcessIn(max(delay, 0)),
		asynq.MaxRetry(25), asynq.Timeout(30*time.Minute))
}

// Callback returns the task that POSTs one outcome event to a status
// callback URL; eventID (SMS id and status) makes it once per outcome.
func Callback(eventID string, payload []byte, maxRetry int, timeout time.Duration) *asynq.Task {
	return asynq.NewTask(TypeCallback, payload,
		asynq.TaskID("cb:"+eventID), asynq.Queue(CallbackQueue), asynq.MaxRetry(maxRetry), asynq.Timeout(timeout),
		// A completed callback keeps its id for an hour, so an event the
		// relay publishes again after a crash finds it and POSTs nothing.
		asynq.Retention(time.Hour))
}

// DispatchQueue is the queue of every dispatch task of a message: the
// dispatch lane's shard of its code, so all of a message's groups share
// one queue and cancelling it knows where its tasks are.
func DispatchQueue(code string, shards sms.Shards) string {
	return shards.Queue(sms.DispatchLane, code)
}

// DispatchID names the dispatch task of group g of a message.
func DispatchID(code string, group int) string { return code + "#" + strconv.Itoa(group) }

// ParseDispatchID splits a dispatch task's payload.
func ParseDispatchID(id string) (code string, group int, err error) {
	code, g, ok := strings.Cut(id, "#")
	if !ok {
		return "", 0, fmt.Errorf("dispatch payload %q: want CODE#GROUP", id)
	}
	group, err = strconv.Atoi(g)
	if err != nil || group < 0 {
		return "", 0, fmt.Errorf("dispatch payload %q: bad group", id)
	}
	return code, group, nil
}

// Enqueue enqueues t, treating "a task with this id already exists" as
// success: that is exactly the duplicate the deterministic id prevents.
func Enqueue(c *asynq.Client, t *asynq.Task) error {
	_, err := c.Enqueue(t)
	if err == nil || errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil
	}
	return fmt.Errorf("enqueue %s: %w", t.Type(), err)
}
