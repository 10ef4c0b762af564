package redisx

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// FollowFailovers makes cc re-read the cluster's slot map as soon as a
// node stops answering, so that the slots of a master that died are sent
// to the replica the cluster promoted within moments of the promotion.
//
// Without it go-redis routes by the slot map it read last and re-reads it
// only on a MOVED or READONLY answer, or when the map is older than
// ClusterStateReloadInterval (60 s by default). A dead master answers
// nothing, so neither redirect ever comes: every command for its slots
// failed until the minute was up (issue 15: 57.8 s of 503s after a master
// was killed, while the cluster itself had promoted a replica 2.3 s after
// the kill). The hook is on every node's client (OnNewNode), not the
// cluster client, because the store talks to a master's node client
// directly for its WAITs (store/calls.go). go-redis coalesces the
// reloads (one at a time, 200 ms apart), so a burst of failures costs a
// few CLUSTER SLOTS calls, not one per command.
func FollowFailovers(cc *redis.ClusterClient) {
	reload := reloadOnFailure{reload: func() { cc.ReloadState(context.Background()) }}
	cc.OnNewNode(func(node *redis.Client) { node.AddHook(reload) })
}

// reloadOnFailure is the hook FollowFailovers adds: reload runs after a
// command or pipeline fails because its node is unreachable or cannot
// serve (Unavailable), never after a command's own error.
type reloadOnFailure struct{ reload func() }

// DialHook implements redis.Hook.
func (h reloadOnFailure) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook implements redis.Hook.
func (h reloadOnFailure) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.after(ctx, err)
		return err
	}
}

// ProcessPipelineHook implements redis.Hook.
func (h reloadOnFailure) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		h.after(ctx, err)
		return err
	}
}

// after reloads on a node failure. A caller's own cancellation or
// deadline says nothing about the node, and redis.Nil is an answer.
func (h reloadOnFailure) after(ctx context.Context, err error) {
	if err == nil || ctx.Err() != nil || err == redis.Nil {
		return
	}
	if Unavailable(err) {
		h.reload()
	}
}
