package e2e_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/e2e/harness"
	"github.com/smsfleet/smsfleet/internal/fleet"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/tasks"
)

// The whole fleet with SMSFLEET_LANE_SHARDS=4 (on one redis-server: the
// shards are what a cluster spreads): an OTP sent now, a campaign fanned
// out in batches and a scheduled message cancelled all behave as with one
// queue per lane, every task runs from a shard queue, and no lane's
// unsharded queue is ever used.
func TestFleetWithShardedLanes(t *testing.T) {
	const shards = sms.Shards(4)
	e := harness.New(t, func(c *config.Config, _ *fleet.Roles) { c.Lanes.Shards = int(shards) })
	to := harness.Phones(700, 40)
	e.Register(harness.ShopApp, harness.ShopToken, to...)

	otp := e.Send(map[string]any{"send_date": "now", "content": "Your code is 4711", "devices": to[:1], "message_type": "otp"})
	campaign := e.Send(map[string]any{"send_date": "now", "content": "news", "devices": to[1:30]})
	e.WaitCounts(otp, map[string]int64{"sent": 1}, 10*time.Second)
	e.WaitCounts(campaign, map[string]int64{"sent": 29}, 20*time.Second)
	if n := e.Sim.Count(); n != 30 {
		t.Fatalf("the provider got %d SMS, want 30 (each once)", n)
	}

	at := time.Now().UTC().Add(2 * time.Hour).Format("2006-01-02 15:04")
	later := e.Send(map[string]any{"send_date": at, "content": "later", "devices": to[30:]})
	insp := asynq.NewInspectorFromRedisClient(e.Client)
	dq := tasks.DispatchQueue(later, shards)
	if ti, err := insp.GetTaskInfo(dq, tasks.DispatchID(later, 0)); err != nil || ti.State != asynq.TaskStateScheduled {
		t.Fatalf("the scheduled message's dispatch in %s: %+v %v", dq, ti, err)
	}
	e.MustOK("deleteMessage", map[string]any{"application": harness.ShopApp, "auth": harness.ShopToken, "message": later})
	e.WaitCounts(later, map[string]int64{"canceled": 10}, time.Second)
	if _, err := insp.GetTaskInfo(dq, tasks.DispatchID(later, 0)); err == nil {
		t.Fatal("the cancelled message's dispatch task is still in its shard")
	}

	queues, err := insp.Queues()
	if err != nil {
		t.Fatal(err)
	}
	processed := 0
	for _, q := range queues {
		if q == tasks.CallbackQueue {
			continue
		}
		if !strings.Contains(q, ".") {
			t.Errorf("the unsharded queue %s exists", q)
			continue
		}
		qi, err := insp.GetQueueInfo(q)
		if err != nil {
			t.Fatal(err)
		}
		processed += qi.Processed
	}
	// At least the OTP, the dispatch and one batch of the campaign.
	if processed < 3 {
		t.Fatalf("%d tasks processed from the shard queues %v", processed, queues)
	}
}

// Raising SMSFLEET_LANE_SHARDS strands nothing: tasks an intake with one
// shard enqueued (an OTP in "otp", a campaign's dispatch in "dispatch")
// are run by workers started with four, which serve the lanes' earlier
// queues too (worker.LaneQueues), and each SMS is sent once.
func TestRaisingTheShardCountStrandsNoTask(t *testing.T) {
	e := harness.New(t, func(_ *config.Config, r *fleet.Roles) { *r = fleet.Roles{API: true} })
	to := harness.Phones(800, 12)
	e.Register(harness.ShopApp, harness.ShopToken, to...)
	otp := e.Send(map[string]any{"send_date": "now", "content": "Your code is 4711", "devices": to[:1], "message_type": "otp"})
	campaign := e.Send(map[string]any{"send_date": "now", "content": "news", "devices": to[1:]})
	insp := asynq.NewInspectorFromRedisClient(e.Client)
	for _, q := range []string{"otp", "dispatch"} {
		if qi, err := insp.GetQueueInfo(q); err != nil || qi.Pending != 1 {
			t.Fatalf("queue %s before any worker: %+v %v, want one pending task", q, qi, err)
		}
	}

	e.Config.Lanes.Shards = 4
	harness.StartWorker(t, e)
	e.WaitCounts(otp, map[string]int64{"sent": 1}, 10*time.Second)
	e.WaitCounts(campaign, map[string]int64{"sent": 11}, 20*time.Second)
	if n := e.Sim.Count(); n != 12 {
		t.Fatalf("the provider got %d SMS, want 12 (each once)", n)
	}
}
