package store

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/testenv"
)

// TestKeySlotMatchesRedis holds keySlot to what a real cluster-enabled
// redis-server answers for CLUSTER KEYSLOT.
func TestKeySlotMatchesRedis(t *testing.T) {
	rdb := newPlainClient(t, masterAddrs(t, startCluster(t, 3))[0])
	for _, key := range []string{
		"", "a", "123456789", "sf:outbox", "sf:m:AAAA-00000000-00000001",
		"sf:d:{SHOP1-00001}:+4915100000001", "sf:ds:{SHOP1-00001}",
		"{user1000}.following", "foo{}{bar}", "foo{{bar}}zap", "foo{bar}{zap}", "{}", "}{", "{a", "a}b{c}",
		"sf:s:{7-123}:AAAA-00000000-00000001.0f3c", "\xff\x00{\x80}",
	} {
		want, err := rdb.ClusterKeySlot(context.Background(), key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got := keySlot(key); int64(got) != want {
			t.Errorf("keySlot(%q) = %d, CLUSTER KEYSLOT says %d", key, got, want)
		}
	}
}

// TestEveryCallHasOneSlot runs every script through the Go that calls it
// (scriptWalk) in the tagged layout, captures the keys of each script
// call and each MULTI the store sends (a hook on its client), and asserts
// that they share one hash slot: what Redis Cluster requires of them.
func TestEveryCallHasOneSlot(t *testing.T) {
	r := testenv.NewRedis(t)
	ctx := context.Background()
	rdb := r.Client(t)
	calls := &slotHook{ran: map[string]bool{}}
	rdb.AddHook(calls)
	now := time.Now()
	s := New(rdb, 24*time.Hour, WithClock(func() time.Time { return now }), WithLayout(Layout{Tagged: true, Partitions: 16}))
	if err := s.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range scriptWalk(t, s, &now) {
		c.run()
	}
	// The transactions of the store (Unbegin, presets, outcome acks).
	app := "SHOP1-00001"
	p, err := s.CreatePreset(ctx, app, Preset{Name: "n", Content: `"hi"`})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeletePreset(ctx, app, p.Code); err != nil {
		t.Fatal(err)
	}
	if err := s.Unbegin(ctx, "AAAA-00000000-00000001.00"); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureOutcomeGroup(ctx); err != nil {
		t.Fatal(err)
	}
	acked := 0
	for part := range s.Partitions() {
		evs, err := s.ReadOutcomes(ctx, part, "c", 100, time.Millisecond, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.AckOutcomes(ctx, evs); err != nil {
			t.Fatal(err)
		}
		acked += len(evs)
	}
	if acked == 0 {
		t.Error("no outcome event to acknowledge: the walk should leave some")
	}

	calls.mu.Lock()
	defer calls.mu.Unlock()
	if calls.multis < 3 {
		t.Errorf("saw %d MULTIs, want at least 3 (presets, unbegin, acks)", calls.multis)
	}
	for _, c := range calls.seen {
		slot := keySlot(c.keys[0])
		for _, k := range c.keys[1:] {
			if keySlot(k) != slot {
				t.Errorf("%s: keys in more than one slot: %q (slots %d and %d)", c.what, c.keys, slot, keySlot(k))
				break
			}
		}
	}
	for name, src := range scriptSources {
		if !calls.ran[redis.NewScript(src).Hash()] {
			t.Errorf("script %s never ran: add it to scriptWalk", name)
		}
	}
}

// slotHook records the keys of every script call and MULTI a client sends.
type slotHook struct {
	mu     sync.Mutex
	seen   []keyedCall
	ran    map[string]bool
	multis int
}

type keyedCall struct {
	what string
	keys []string
}

func (h *slotHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *slotHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.record([]redis.Cmder{cmd})
		return next(ctx, cmd)
	}
}

func (h *slotHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.record(cmds)
		return next(ctx, cmds)
	}
}

// record notes the script calls among cmds, and a MULTI's keys: each
// command of the store's transactions has its key first.
func (h *slotHook) record(cmds []redis.Cmder) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(cmds) > 0 && cmds[0].Name() == "multi" {
		h.multis++
		var keys []string
		for _, c := range cmds[1 : len(cmds)-1] {
			keys = append(keys, fmt.Sprint(c.Args()[1]))
		}
		h.seen = append(h.seen, keyedCall{what: "MULTI", keys: keys})
		return
	}
	for _, c := range cmds {
		args := c.Args()
		switch c.Name() {
		case "evalsha", "eval":
			n, _ := strconv.Atoi(fmt.Sprint(args[2]))
			keys := make([]string, n)
			for i := range keys {
				keys[i] = fmt.Sprint(args[3+i])
			}
			sha := fmt.Sprint(args[1])
			if c.Name() == "eval" {
				sha = redis.NewScript(sha).Hash()
			}
			h.ran[sha] = true
			if n > 0 {
				h.seen = append(h.seen, keyedCall{what: "script " + sha[:8], keys: keys})
			}
		}
	}
}
