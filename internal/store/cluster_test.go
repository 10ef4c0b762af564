package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/sms"
)

// TestScriptsRunOnACluster runs every script (scriptWalk) on a real
// 3-master Redis Cluster in the tagged layout: a script or MULTI whose
// keys were in two slots would fail with CROSSSLOT, a key on another
// master than its client asked with MOVED. Then every master holds some
// of the store's keys: the partitions spread over the cluster.
func TestScriptsRunOnACluster(t *testing.T) {
	c := startCluster(t, 3)
	rdb := c.Client(t)
	ctx := context.Background()
	now := time.Now()
	s := New(rdb, 24*time.Hour, WithClock(func() time.Time { return now }), WithLayout(Layout{Tagged: true, Partitions: 16}))
	if err := CheckLayout(ctx, rdb, s.Layout()); err != nil {
		t.Fatal(err)
	}
	if err := s.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	for _, step := range scriptWalk(t, s, &now) {
		step.run()
	}
	if err := s.EnsureOutcomeGroup(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := s.OutcomeBacklog(ctx); err != nil || n == 0 {
		t.Errorf("outcome backlog %d (%v): the walk's outcomes should wait in the partitions' streams", n, err)
	}
	for _, addr := range masterAddrs(t, c) {
		n, err := newPlainClient(t, addr).DBSize(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Errorf("master %s holds no key: the partitions do not spread", addr)
		}
		t.Logf("master %s: %d keys", addr, n)
	}
}

// TestPartitionsCoverTheSlots: partition i's tag hashes into the i-th of
// P equal slot ranges, so P partitions land on every master of a cluster
// whose masters hold contiguous ranges.
func TestPartitionsCoverTheSlots(t *testing.T) {
	for _, p := range []int{1, 3, 16, 1024} {
		tags := partitionTags(p)
		seen := map[string]bool{}
		for i, tag := range tags {
			slot := keySlot(tag)
			if lo, hi := i*clusterSlots/p, (i+1)*clusterSlots/p; slot < lo || slot >= hi {
				t.Errorf("P=%d: partition %d's tag %s is in slot %d, outside [%d, %d)", p, i, tag, slot, lo, hi)
			}
			if seen[tag] {
				t.Errorf("P=%d: tag %s twice", p, tag)
			}
			seen[tag] = true
		}
	}
}

// TestDurableWritesOnACluster: with replicas required, a group commit's
// writes on a cluster are followed by WAIT on each master that took one
// (runCalls); with no replica there, every message is written and answers
// ErrNotReplicated with its code, as on a lone primary.
func TestDurableWritesOnACluster(t *testing.T) {
	c := startCluster(t, 3)
	rdb := c.Client(t)
	ctx := context.Background()
	s := New(rdb, 24*time.Hour, WithLayout(Layout{Tagged: true, Partitions: 16}), WithReplicas(1, 20*time.Millisecond))
	if err := s.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	var reqs []CreateRequest
	for i := range 12 {
		code := fmt.Sprintf("DRBL-00000000-%08d", i)
		reqs = append(reqs, CreateRequest{
			Message:   &Message{App: fmt.Sprintf("APP%02d-00001", i%4), Code: code, Type: sms.OTP, Content: `"hi"`, SendAt: time.Now(), Validity: time.Hour, Direct: true, ChunkSize: 10, TransactionID: "t" + code},
			Audiences: []Audience{{Zone: "UTC", SendAt: time.Now(), Phones: []string{"+4915100000001"}}},
		})
	}
	for i, res := range s.CreateMessages(ctx, reqs) {
		if !errors.Is(res.Err, ErrNotReplicated) || res.Code != reqs[i].Message.Code || !res.Created {
			t.Fatalf("message %d: %+v, want created under its code with ErrNotReplicated", i, res)
		}
		if _, err := s.GetMessage(ctx, "", res.Code); err != nil {
			t.Fatalf("message %s not written: %v", res.Code, err)
		}
	}
}
