package tasks

import (
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// Each task goes to the queue sms.Shards picks from its own id: a send by
// its SMS id, a batch by the batch id, a dispatch by the message code (so
// every group of a message shares one queue). One shard keeps the lane's
// own name. asynq is asked where the task went, so the option really
// reached the task.
func TestTasksGoToTheirShardQueue(t *testing.T) {
	rdb := testenv.NewRedis(t).Client(t)
	client := asynq.NewClientFromRedisClient(rdb)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	const sms1, code = "C0DE-00000000-00000001.0123456789abcdef", "C0DE-00000000-00000001"
	refs := []SendPayload{{ID: sms1, App: "A", Phone: "+4915112000001"}, {ID: "C0DE-00000000-00000001.fedcba9876543210", App: "A", Phone: "+4915112000002"}}
	tests := []struct {
		name   string
		task   *asynq.Task
		id     string
		shards sms.Shards
		want   string
	}{
		{"send, one shard", SendFor(refs[0], sms.OTP, 1, 3, time.Minute), sms1, 1, "otp"},
		{"send, 8 shards", SendFor(refs[0], sms.OTP, 8, 3, time.Minute), sms1, 8, sms.Shards(8).Queue("otp", sms1)},
		{"legacy send, 8 shards", Send(sms1, sms.Marketing, 8, 3, time.Minute), sms1, 8, sms.Shards(8).Queue("marketing", sms1)},
		{"batch, one shard", SendBatch("sb:"+sms1, refs, sms.Transactional, 1, 3, time.Minute), "sb:" + sms1, 1, "transactional"},
		{"batch, 8 shards", SendBatch("sb:"+sms1, refs, sms.Transactional, 8, 3, time.Minute), "sb:" + sms1, 8, sms.Shards(8).Queue("transactional", "sb:"+sms1)},
		{"dispatch, one shard", Dispatch(code, 0, 1, time.Hour), DispatchID(code, 0), 1, "dispatch"},
		{"dispatch group 3, 8 shards", Dispatch(code, 3, 8, time.Hour), DispatchID(code, 3), 8, sms.Shards(8).Queue("dispatch", code)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := client.Enqueue(tt.task)
			if err != nil {
				t.Fatal(err)
			}
			if info.Queue != tt.want || info.ID != tt.id {
				t.Fatalf("task %s went to queue %q, want %s in %q", info.ID, info.Queue, tt.id, tt.want)
			}
			if _, err := insp.GetTaskInfo(tt.want, tt.id); err != nil {
				t.Fatalf("no task %s in %s: %v", tt.id, tt.want, err)
			}
		})
	}
	if got, want := DispatchQueue(code, 8), sms.Shards(8).Queue("dispatch", code); got != want {
		t.Errorf("DispatchQueue = %q, want %q", got, want)
	}
}
