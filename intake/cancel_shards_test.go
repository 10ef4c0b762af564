package intake

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/tasks"
)

// Cancelling a scheduled message deletes its dispatch task from the
// dispatch lane's shard of its code, where the Enqueuer put it; with one
// shard that is the "dispatch" queue of old.
func TestDeleteMessageRemovesTheDispatchFromItsShard(t *testing.T) {
	for _, shards := range []int{1, 4} {
		a, insp := enqueueAPI(t)
		a.Enqueuer.WithShards(sms.Shards(shards))
		a.Inspector = insp
		ctx := context.Background()
		resp, err := a.createMessage(ctx, shop, json.RawMessage(`{"notifications":[{"send_date":"2026-11-24 18:00","content":"later","devices":["+4915112000001","+4915112000002"],"use_auto_registration":true}]}`))
		if err != nil {
			t.Fatal(err)
		}
		code := resp.(createResponse).Messages[0]
		queue, id := tasks.DispatchQueue(code, a.Enqueuer.Shards()), tasks.DispatchID(code, 0)
		if shards == 1 && queue != "dispatch" {
			t.Fatalf("one shard: dispatch queue %q, want dispatch", queue)
		}
		if ti, err := insp.GetTaskInfo(queue, id); err != nil || ti.State != asynq.TaskStateScheduled {
			t.Fatalf("shards=%d: dispatch task %s in %s: %+v %v", shards, id, queue, ti, err)
		}
		if _, err := a.deleteMessage(ctx, shop, json.RawMessage(`{"message":"`+code+`"}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := insp.GetTaskInfo(queue, id); !errors.Is(err, asynq.ErrTaskNotFound) {
			t.Fatalf("shards=%d: after the cancel the dispatch task %s in %s: %v, want not found", shards, id, queue, err)
		}
	}
}
