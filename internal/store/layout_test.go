package store

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/smsfleet/smsfleet/internal/testenv"
)

func TestLayoutFor(t *testing.T) {
	for _, c := range []struct {
		partitions int
		cluster    bool
		want       string
		err        bool
	}{
		{1, false, "plain/1", false},
		{1, true, "tagged/1", false},
		{16, false, "tagged/16", false},
		{16, true, "tagged/16", false},
		{MaxPartitions, true, "tagged/1024", false},
		{0, false, "", true},
		{MaxPartitions + 1, true, "", true},
	} {
		l, err := LayoutFor(c.partitions, c.cluster)
		if (err != nil) != c.err || (err == nil && l.String() != c.want) {
			t.Errorf("LayoutFor(%d, %v) = %s, %v; want %s (error %v)", c.partitions, c.cluster, l, err, c.want, c.err)
		}
	}
}

// TestPlainKeysAreTodays: the plain layout names every key exactly as the
// versions before layouts did, so a standalone deployment's data stays
// readable after the upgrade.
func TestPlainKeysAreTodays(t *testing.T) {
	k := newKeyspace(PlainLayout)
	const app, code, id = "SHOP1-00001", "AAAA-00000000-00000001", "AAAA-00000000-00000001.0f"
	for _, c := range [][2]string{
		{k.device(app, "+49151"), "sf:d:SHOP1-00001:+49151"},
		{k.devices(app), "sf:ds:SHOP1-00001"},
		{k.userPrefix(app) + "u1", "sf:u:SHOP1-00001:u1"},
		{k.msg(code), "sf:m:AAAA-00000000-00000001"},
		{k.chunkPrefix(code) + "0", "sf:mr:AAAA-00000000-00000001:0"},
		{k.msgList(app), "sf:ml:SHOP1-00001"},
		{k.msgSeq(app), "sf:mseq:SHOP1-00001"},
		{k.txn(app, "t1"), "sf:tx:SHOP1-00001:t1"},
		{k.sms(id), "sf:s:AAAA-00000000-00000001.0f"},
		{k.attempts(id), "sf:sa:AAAA-00000000-00000001.0f"},
		{k.ref("sim", "R1"), "sf:ref:sim:R1"},
		{k.park("sim", "R1"), "sf:park:sim:R1"},
		{k.parkOf("sim:R1"), "sf:park:sim:R1"},
		{k.optOut(app), "sf:oo:SHOP1-00001"},
		{k.optOutRecord(app, "+49151"), "sf:or:SHOP1-00001:+49151"},
		{k.frequency(app, "+49151"), "sf:fc:SHOP1-00001:+49151"},
		{k.preset(app, "P1"), "sf:p:SHOP1-00001:P1"},
		{k.presets(app), "sf:pl:SHOP1-00001"},
		{k.outbox(0), "sf:outbox"},
		{k.waits(0), "sf:dw"},
		{k.outcome(0), "sf:oc"},
		{k.parked(0), "sf:pz"},
		{k.counts(0), "sf:cnt"},
	} {
		if c[0] != c[1] {
			t.Errorf("plain key %q, want %q", c[0], c[1])
		}
	}
}

// TestTaggedKeysShareSlots: in the tagged layout a message, its chunks,
// its SMS, their histories and its partition's structures share one slot;
// an application's keys another; a reference and its parked receipt the
// slot of their partition.
func TestTaggedKeysShareSlots(t *testing.T) {
	k := newKeyspace(Layout{Tagged: true, Partitions: 16})
	const app, code = "SHOP1-00001", "AAAA-00000000-00000001"
	id := code + ".0f"
	p := k.partitionOf(code)
	same := func(name string, keys ...string) {
		t.Helper()
		for _, key := range keys[1:] {
			if keySlot(key) != keySlot(keys[0]) {
				t.Errorf("%s: %s and %s are in different slots", name, keys[0], key)
			}
		}
	}
	same("message", k.msg(code), k.chunkPrefix(code)+"3", k.sms(id), k.attempts(id), k.outbox(p), k.waits(p), k.outcome(p), k.parked(p), k.counts(p))
	same("application", k.device(app, "+49151"), k.devices(app), k.userPrefix(app)+"u", k.msgList(app), k.msgSeq(app), k.txn(app, "t"),
		k.optOut(app), k.optOutRecord(app, "+49151"), k.frequency(app, "+49151"), k.preset(app, "P"), k.presets(app))
	m := parkedMember("sim", "R1")
	q := k.partitionOf(m)
	same("reference", k.ref("sim", "R1"), k.park("sim", "R1"), k.parkOf(m), k.parked(q), k.counts(q))
	if got := k.msg(code); !strings.HasPrefix(got, "sf:m:{") {
		t.Errorf("tagged message key %q", got)
	}
}

func TestCheckLayout(t *testing.T) {
	r := testenv.NewRedis(t)
	ctx := context.Background()
	rdb := r.Client(t)
	check := func(l Layout) error { return CheckLayout(ctx, rdb, l) }
	tagged, plain := Layout{Tagged: true, Partitions: 16}, PlainLayout

	// An empty Redis takes the first layout; the other is refused.
	if err := check(tagged); err != nil {
		t.Fatal(err)
	}
	if err := check(tagged); err != nil {
		t.Fatalf("the same layout again: %v", err)
	}
	if l, err := RecordedLayout(ctx, rdb); err != nil || l != tagged {
		t.Fatalf("recorded layout %v %v, want %v", l, err, tagged)
	}
	err := check(plain)
	if !errors.Is(err, ErrLayoutMismatch) || !strings.Contains(err.Error(), "tagged/16") || !strings.Contains(err.Error(), "plain/1") {
		t.Fatalf("plain on tagged data: %v, want ErrLayoutMismatch naming both layouts", err)
	}
	if err := check(Layout{Tagged: true, Partitions: 8}); !errors.Is(err, ErrLayoutMismatch) {
		t.Fatalf("8 partitions on 16's data: %v, want ErrLayoutMismatch", err)
	}

	// Data from before the layout was recorded (the SMS id key, no
	// sf:layout) is plain.
	r.Flush(t)
	if _, err := LoadIDs(ctx, rdb, ""); err != nil {
		t.Fatal(err)
	}
	if err := check(tagged); !errors.Is(err, ErrLayoutMismatch) {
		t.Fatalf("tagged on an older version's data: %v, want ErrLayoutMismatch", err)
	}
	if err := check(plain); err != nil {
		t.Fatalf("plain on an older version's data: %v", err)
	}
	if v, _ := rdb.Get(ctx, keyLayout).Result(); v != "plain/1" {
		t.Fatalf("%s = %q, want plain/1 recorded", keyLayout, v)
	}
	if l, err := RecordedLayout(ctx, rdb); err != nil || l != plain {
		t.Fatalf("recorded layout %v %v, want plain", l, err)
	}
}
