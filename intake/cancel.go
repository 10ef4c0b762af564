package intake

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/tasks"
)

type messageRequest struct {
	Message string `json:"message"`
}

// lookupMessage loads the message a request names, as a 210 when the code
// is missing or not the caller's.
func (a *API) lookupMessage(ctx context.Context, app string, raw json.RawMessage) (store.Message, error) {
	var req messageRequest
	if err := decodeArgs(raw, &req, ""); err != nil {
		return store.Message{}, err
	}
	if req.Message == "" {
		return store.Message{}, argError("message", "required (a message code)")
	}
	m, err := a.Store.GetMessage(ctx, app, req.Message)
	if errors.Is(err, store.ErrNotFound) {
		return store.Message{}, argError("message", "unknown message code %q", req.Message)
	}
	return m, err
}

// deleteMessage cancels a message that is not fully sent: every SMS of it
// not yet handed to a provider becomes canceled.
func (a *API) deleteMessage(ctx context.Context, app string, raw json.RawMessage) (any, error) {
	m, err := a.lookupMessage(ctx, app, raw)
	if err != nil {
		return nil, err
	}
	res, err := a.Store.CancelMessage(ctx, m)
	if err != nil && len(res.Unstarted) > 0 {
		// Marked canceled, but the sweep that gives each SMS its canceled
		// record and event did not finish (the request's deadline: it
		// takes time in proportion to the recipients; a Redis error). The
		// groups' dispatch tasks finish it (Store.FinishCanceledGroup):
		// run them now rather than at their send time.
		a.runDispatchNow(m.Code, res.Unstarted)
	}
	if errors.Is(err, store.ErrAlreadySent) {
		if m.Canceled {
			return nil, argError("message", "message %s is already canceled", m.Code)
		}
		return nil, argError("message", "message %s was already sent; nothing is left to cancel", m.Code)
	}
	if err != nil {
		return nil, err
	}
	for _, g := range res.Unstarted {
		if a.Inspector == nil {
			break
		}
		// The fan-out would find its group canceled and do nothing; deleting
		// the task just keeps the scheduled list clean for on-call.
		id := tasks.DispatchID(m.Code, g)
		if err := a.Inspector.DeleteTask(tasks.DispatchQueue(m.Code, a.Enqueuer.Shards()), id); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound) {
			a.log.Warn("could not delete the dispatch task of a canceled message", zap.String("task", id), zap.Error(err))
		}
	}
	a.log.Info("message canceled", zap.String("message", m.Code), zap.Int("groups_before_fanout", len(res.Unstarted)), zap.Int64("swept", res.Swept))
	return nil, nil
}

// runDispatchNow makes the dispatch tasks of groups of code due now. The
// inspector's calls take no context, so this works after the request's
// deadline too; a task already gone (run, or never made) is fine.
func (a *API) runDispatchNow(code string, groups []int) {
	if a.Inspector == nil {
		return
	}
	for _, g := range groups {
		id := tasks.DispatchID(code, g)
		if err := a.Inspector.RunTask(tasks.DispatchQueue(code, a.Enqueuer.Shards()), id); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound) {
			a.log.Warn("could not run the dispatch task of a canceled message to finish its cancel", zap.String("task", id), zap.Error(err))
		}
	}
}
