package sms

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
)

func TestShardsQueue(t *testing.T) {
	tests := []struct {
		name   string
		shards Shards
		lane   string
		id     string
		want   string
	}{
		// One shard, and the zero value, keep today's queue names exactly.
		{"one shard", 1, "transactional", "AB12-00000000-00000001.deadbeef", "transactional"},
		{"zero value is one shard", 0, "otp", "x", "otp"},
		{"dispatch, one shard", 1, DispatchLane, "AB12-00000000-00000001#0", "dispatch"},
		// FNV-1a("a") = 0xe40c292c; mod 4 = 0, mod 7 = 5.
		{"four shards", 4, "marketing", "a", "marketing.0"},
		{"seven shards", 7, "otp", "a", "otp.5"},
		// FNV-1a("b") = 0xe70c2de5; mod 4 = 1.
		{"another id", 4, "marketing", "b", "marketing.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.shards.Queue(tt.lane, tt.id); got != tt.want {
				t.Errorf("Shards(%d).Queue(%q, %q) = %q, want %q", tt.shards, tt.lane, tt.id, got, tt.want)
			}
		})
	}
}

// Every id lands on one of the lane's queues, always the same one, and a
// few thousand ids reach every shard (the spread a cluster relies on).
func TestShardsQueueSpreadsAndIsStable(t *testing.T) {
	for _, n := range []Shards{2, 3, 16, MaxShards} {
		queues := n.Queues("transactional")
		hits := make(map[string]int, len(queues))
		for i := range 20 * n.Count() {
			id := fmt.Sprintf("C0DE-%08X-%08X.%d", i, i*7, i)
			q := n.Queue("transactional", id)
			if again := n.Queue("transactional", id); again != q {
				t.Fatalf("Shards(%d): id %s went to %s, then %s", n, id, q, again)
			}
			if !slices.Contains(queues, q) {
				t.Fatalf("Shards(%d): id %s went to %s, not one of the lane's queues", n, id, q)
			}
			hits[q]++
		}
		if len(hits) != len(queues) {
			t.Errorf("Shards(%d): %d ids reached %d of %d queues", n, 20*n.Count(), len(hits), len(queues))
		}
	}
}

func TestShardsQueues(t *testing.T) {
	tests := []struct {
		shards Shards
		lane   string
		want   []string
	}{
		{1, "otp", []string{"otp"}},
		{0, "dispatch", []string{"dispatch"}},
		{3, "otp", []string{"otp.0", "otp.1", "otp.2"}},
	}
	for _, tt := range tests {
		if got := tt.shards.Queues(tt.lane); !slices.Equal(got, tt.want) {
			t.Errorf("Shards(%d).Queues(%q) = %v, want %v", tt.shards, tt.lane, got, tt.want)
		}
	}
	if got, want := Shards(1).AllQueues(), []string{"otp", "transactional", "marketing", "dispatch"}; !slices.Equal(got, want) {
		t.Errorf("Shards(1).AllQueues() = %v, want %v", got, want)
	}
	all := Shards(2).AllQueues()
	if want := []string{"otp.0", "otp.1", "transactional.0", "transactional.1", "marketing.0", "marketing.1", "dispatch.0", "dispatch.1"}; !slices.Equal(all, want) {
		t.Errorf("Shards(2).AllQueues() = %v, want %v", all, want)
	}
}

func TestLaneOf(t *testing.T) {
	tests := []struct{ queue, want string }{
		{"otp", "otp"},
		{"otp.0", "otp"},
		{"transactional.255", "transactional"},
		{"dispatch.12", "dispatch"},
		{"callbacks", "callbacks"}, // not a lane's: its own name
		{"otp.", "otp."},           // no shard number
		{"otp.x1", "otp.x1"},
		{".3", ".3"},
	}
	for _, tt := range tests {
		if got := LaneOf(tt.queue); got != tt.want {
			t.Errorf("LaneOf(%q) = %q, want %q", tt.queue, got, tt.want)
		}
	}
	// LaneOf undoes Queue for every shard count.
	for _, n := range []Shards{1, 5, MaxShards} {
		for _, lane := range Lanes {
			for i := range 50 {
				if q := n.Queue(lane, strconv.Itoa(i)); LaneOf(q) != lane {
					t.Errorf("LaneOf(%q) = %q, want %q", q, LaneOf(q), lane)
				}
			}
		}
	}
}
