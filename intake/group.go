package intake

import (
	"context"
	"time"

	"github.com/smsfleet/smsfleet/internal/groupcommit"
	"github.com/smsfleet/smsfleet/internal/store"
)

// Group commit of single sends' writes (docs/decisions.md#21): concurrent
// direct messages are written in one pipelined round trip
// (store.CreateMessages), without a timer (internal/groupcommit): a lone
// request is written at once. Each request keeps its own result: its code,
// its transactionId replay, its error, its replicas' acknowledgement.

// createFlushTimeout bounds one group's write when the request that leads
// it has ended: the others wait for it.
const createFlushTimeout = 10 * time.Second

// pendingCreate is one direct message waiting to be written.
type pendingCreate struct {
	ctx  context.Context
	msg  *store.Message
	auds []store.Audience
	res  store.CreateResult
}

func newCreateGroup(st *store.Store) *groupcommit.Group[*pendingCreate] {
	return &groupcommit.Group[*pendingCreate]{Flush: func(ps []*pendingCreate) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ps[0].ctx), createFlushTimeout)
		defer cancel()
		reqs := make([]store.CreateRequest, len(ps))
		for i, p := range ps {
			reqs[i] = store.CreateRequest{Message: p.msg, Audiences: p.auds}
		}
		for i, r := range st.CreateMessages(ctx, reqs) {
			ps[i].res = r
		}
	}}
}

// storeMessage writes m as store.CreateMessage does: a direct message
// through the group commit, anything else (a fan-out's chunks can be
// large) on its own.
func (a *API) storeMessage(ctx context.Context, m *store.Message, auds []store.Audience) (code string, created bool, err error) {
	if !m.Direct || a.creates == nil {
		return a.Store.CreateMessage(ctx, m, auds)
	}
	p := &pendingCreate{ctx: ctx, msg: m, auds: auds}
	a.creates.Do(p)
	return p.res.Code, p.res.Created, p.res.Err
}
