package worker

import (
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/tasks"
)

// shardsApart is the smallest shard count (from 2) that puts smsID's own
// task in another queue of the lane than the batch: what the batch tests
// below need, whatever ids the store made this run.
func shardsApart(t *testing.T, smsID string) sms.Shards {
	t.Helper()
	lane := sms.Transactional.Lane()
	for n := sms.Shards(2); n <= sms.MaxShards; n++ {
		if n.Queue(lane, smsID) != n.Queue(lane, testBatchID) {
			return n
		}
	}
	t.Fatalf("no shard count up to %d separates %s from %s", sms.MaxShards, smsID, testBatchID)
	return 0
}

// With sharded lanes a batch's SMS have their own tasks in their own
// shards, not the batch's: the batch finds such a task there and leaves
// the SMS to it (with the batch's queue checked instead, it would send the
// SMS a second time).
func TestShardedBatchLeavesAnSMSWithItsOwnTaskToIt(t *testing.T) {
	b := newBatchFixture(t)
	p1, p2 := "+4915112000111", "+4915112000112"
	ids := []string{b.create(msg{}, p1), b.create(msg{}, p2)}
	b.s.Shards = shardsApart(t, ids[1])
	own := tasks.SendFor(tasks.SendPayload{ID: ids[1], App: testApp, Phone: p2}, sms.Transactional, b.s.Shards, 16, time.Minute)
	info, err := b.s.Tasks.Enqueue(own)
	if err != nil {
		t.Fatal(err)
	}
	if want := b.s.Shards.Queue("transactional", ids[1]); info.Queue != want {
		t.Fatalf("own task in %s, want %s", info.Queue, want)
	}
	if err := b.s.ProcessBatch(b.ctx, b.batchTask(ids, []string{p1, p2})); err != nil {
		t.Fatal(err)
	}
	if b.rec(ids[0]).Status != sms.Sent || b.p.callsTo(p2) != 0 || b.rec(ids[1]).Status != sms.Queued {
		t.Fatalf("batch: first %s, second %s with %d calls; want the second left queued to its own task", b.rec(ids[0]).Status, b.rec(ids[1]).Status, b.p.callsTo(p2))
	}
}

// A batch's follow-up goes to its SMS's shard, where a re-run of the
// batch looks for it: the re-run leaves the SMS alone.
func TestShardedBatchFollowUpIsInItsSMSShard(t *testing.T) {
	b := newBatchFixture(t)
	okPhone, downPhone := "+4915112000121", "+4915112000122"
	b.p.answers[downPhone] = []answer{answerDown}
	ids := []string{b.create(msg{}, okPhone), b.create(msg{}, downPhone)}
	b.s.Shards = shardsApart(t, ids[1])
	batch := b.batchTask(ids, []string{okPhone, downPhone})
	if err := b.s.ProcessBatch(b.ctx, batch); err != nil {
		t.Fatal(err)
	}
	ti := b.followUp(ids[1])
	if ti == nil || ti.Queue != b.s.Shards.Queue("transactional", ids[1]) {
		t.Fatalf("follow-up %+v, want one in %s", ti, b.s.Shards.Queue("transactional", ids[1]))
	}
	if err := b.s.ProcessBatch(b.ctx, batch); err != nil { // asynq's redelivery
		t.Fatal(err)
	}
	if b.p.callsTo(downPhone) != 1 || b.p.callsTo(okPhone) != 1 {
		t.Fatalf("provider calls: %d for the followed-up SMS, %d for the sent one; want 1 each", b.p.callsTo(downPhone), b.p.callsTo(okPhone))
	}
}
