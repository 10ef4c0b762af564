package dispatcher

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
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
	if errors.Is(err, store.ErrAlreadySent) {
		if m.Canceled {
			return nil, argError("message", "message %s is already canceled", m.Code)
		}
		return nil, argError("message", "message %s was already sent; nothing is left to cancel", m.Code)
	}
	if err != nil {
		return nil, err
	}
	if res.BeforeFanout && a.Inspector != nil {
		// The fan-out would find the message canceled and do nothing; deleting
		// its task just keeps the scheduled list clean for on-call.
		if err := a.Inspector.DeleteTask(sms.DispatchQueue, m.Code); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound) {
			a.log.Warn("could not delete the dispatch task of a canceled message", zap.String("message", m.Code), zap.Error(err))
		}
	}
	a.log.Info("message canceled", zap.String("message", m.Code), zap.Int64("canceled", res.Canceled))
	return nil, nil
}
