// Package tasks names the Asynq tasks smsfleet runs and builds them with
// their deterministic ids (DESIGN.md decision 3): a task is enqueued at most
// once per id while it exists, so a retried request or a re-run fan-out
// cannot double-enqueue.
package tasks

import (
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/smsfleet/smsfleet/internal/sms"
)

// Task types.
const (
	TypeSend     = "sms:send"
	TypeDispatch = "sms:dispatch"
)

// Send returns the task that sends SMS id on the lane of typ. The payload
// is the id alone; the state lives in Redis and is read at send time.
func Send(id string, typ sms.Type, maxRetry int, timeout time.Duration) *asynq.Task {
	return asynq.NewTask(TypeSend, []byte(id),
		asynq.TaskID(id), asynq.Queue(typ.Queue()), asynq.MaxRetry(maxRetry), asynq.Timeout(timeout))
}

// Dispatch returns the one fan-out task of a message, due in delay (a
// duration, not a time, so an injected clock in tests maps onto asynq's real
// one). Its id is the message code.
func Dispatch(code string, delay time.Duration) *asynq.Task {
	return asynq.NewTask(TypeDispatch, []byte(code),
		asynq.TaskID(code), asynq.Queue(sms.DispatchQueue), asynq.ProcessIn(max(delay, 0)),
		asynq.MaxRetry(25), asynq.Timeout(30*time.Minute))
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
