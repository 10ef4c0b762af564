package store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/sms"
)

// Key layout for Redis Cluster (docs/decisions.md#22). Redis Cluster runs a
// script or a MULTI only when all its keys hash to one slot, so every key
// a script touches carries a hash tag:
//
//   - an application's keys (devices, opt-outs, its message list, ...) are
//     tagged with the application, so each device, opt-out or preset step
//     has one slot;
//   - a message, its recipient chunks, its SMS records and their attempt
//     histories are tagged with the message's partition: the code's
//     FNV-1a hash modulo P. An SMS id is "<code>.<hex>", so an SMS lives in
//     its message's partition;
//   - the fleet-wide structures (outbox, delivery-wait index, outcome
//     stream, parked receipts, counters) are split into P keys, one per
//     partition, and a message's scripts use its partition's: every
//     script of the send path has one slot, and P partitions spread over
//     the cluster's masters, each with its own sweeper and relay loop;
//   - a provider reference and a receipt parked for it are in the
//     partition of "prov:ref", the only thing a receipt knows.
//
// Partition i's tag is the first string "<i>-<n>" (n = 0, 1, ...) whose
// slot falls in [i·16384/P, (i+1)·16384/P): the partitions cover the slot
// space evenly, so they land on every master of a cluster whose slots were
// assigned in contiguous ranges (redis-cli --cluster create does that).
//
// The plain layout (P = 1, not a cluster) names every key as before
// tagging existed, so a standalone deployment's data keeps working.

// MaxPartitions bounds SMSFLEET_REDIS_PARTITIONS: 16 slots per partition
// at most, each found by a short search at start-up.
const MaxPartitions = 1024

// Layout is how the store names its keys.
type Layout struct {
	// Tagged: keys carry hash tags (Redis Cluster, or more than one
	// partition). Untagged is the plain layout: one partition, the key
	// names of a standalone deployment.
	Tagged bool
	// Partitions is how many partitions the fleet-wide structures have
	// (1 for the plain layout).
	Partitions int
}

// PlainLayout is the layout of a standalone Redis: today's key names.
var PlainLayout = Layout{Partitions: 1}

// LayoutFor is the layout for a configuration: the plain one for one
// partition outside a cluster, else the tagged one with partitions.
func LayoutFor(partitions int, cluster bool) (Layout, error) {
	if partitions < 1 || partitions > MaxPartitions {
		return Layout{}, fmt.Errorf("store: %d partitions, want 1 to %d", partitions, MaxPartitions)
	}
	if partitions == 1 && !cluster {
		return PlainLayout, nil
	}
	return Layout{Tagged: true, Partitions: partitions}, nil
}

// String is the layout as sf:layout records it: "plain/1" or "tagged/<P>".
func (l Layout) String() string {
	if !l.Tagged {
		return "plain/1"
	}
	return "tagged/" + strconv.Itoa(l.Partitions)
}

// WithLayout names the store's keys with l (default PlainLayout). Every
// process of a fleet must use the same; CheckLayout enforces it.
func WithLayout(l Layout) Option {
	return func(s *Store) { s.k = newKeyspace(l) }
}

// Layout is the store's key layout.
func (s *Store) Layout() Layout { return s.k.layout }

// Partitions is how many partitions the fleet-wide structures have: the
// sweepers and the outcome relay handle each of 0..Partitions()-1.
func (s *Store) Partitions() int { return s.k.layout.Partitions }

// keyspace names keys in one layout.
type keyspace struct {
	layout Layout
	// tags are the partitions' hash tags with their braces ("{3-117}"),
	// nil for the plain layout.
	tags []string
}

func newKeyspace(l Layout) *keyspace {
	if l.Partitions < 1 {
		l.Partitions = 1
	}
	k := &keyspace{layout: l}
	if l.Tagged {
		k.tags = partitionTags(l.Partitions)
	}
	return k
}

// partitionOf is the partition of a message code (or of a parked member):
// FNV-1a of its bytes modulo P.
func (k *keyspace) partitionOf(code string) int {
	if k.layout.Partitions == 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(code))
	return int(h.Sum32() % uint32(k.layout.Partitions))
}

// partitionOfID is the partition of an SMS id: its message's.
func (k *keyspace) partitionOfID(id string) int { return k.partitionOf(codeOfID(id)) }

// codeOfID is the message code of an SMS id, or the id itself when it is
// none (so a malformed id still names one partition).
func codeOfID(id string) string {
	if c := sms.MessageCodeOf(id); c != "" {
		return c
	}
	return id
}

// ofCode is what comes between a per-partition key's prefix and its name:
// "{tag}:" in the tagged layout, nothing in the plain one.
func (k *keyspace) ofCode(code string) string {
	if k.tags == nil {
		return ""
	}
	return k.tags[k.partitionOf(code)] + ":"
}

func (k *keyspace) ofID(id string) string { return k.ofCode(codeOfID(id)) }

// app is how an application appears in its keys: "{app}" in the tagged
// layout (the application is the hash tag), the bare code in the plain one.
func (k *keyspace) app(app string) string {
	if k.tags == nil {
		return app
	}
	return "{" + app + "}"
}

// suffix ends the key of a fleet-wide structure's partition p: ":{tag}"
// in the tagged layout, nothing in the plain one.
func (k *keyspace) suffix(p int) string {
	if k.tags == nil {
		return ""
	}
	return ":" + k.tags[p]
}

var (
	tagsMu    sync.Mutex
	tagsCache = map[int][]string{}
)

// partitionTags returns each of n partitions' hash tag, braces included
// (see the layout comment above). At most 16384 partitions fit; n is at
// most MaxPartitions.
func partitionTags(n int) []string {
	tagsMu.Lock()
	defer tagsMu.Unlock()
	if t, ok := tagsCache[n]; ok {
		return t
	}
	tags := make([]string, n)
	for i := range n {
		lo, hi := i*clusterSlots/n, (i+1)*clusterSlots/n
		for j := 0; ; j++ {
			tag := strconv.Itoa(i) + "-" + strconv.Itoa(j)
			if s := keySlot(tag); s >= lo && s < hi {
				tags[i] = "{" + tag + "}"
				break
			}
		}
	}
	tagsCache[n] = tags
	return tags
}

// ErrLayoutMismatch is returned (wrapped) by CheckLayout when the data in
// Redis was written with another layout than the configured one.
var ErrLayoutMismatch = errors.New("the Redis key layout differs from the configuration")

// CheckLayout records layout l in Redis (sf:layout, SET NX) or, when one
// is recorded, refuses to start under another: a message's keys, and its
// partition's outbox, stream and indexes, are named by the layout, so a
// process with another one would not see the fleet's data (and changing
// the partition count would re-home every message). A Redis with data
// from before layouts were recorded (the SMS id key exists, the layout key
// does not) holds the plain layout. Every process calls it at start-up,
// before LoadIDs (which creates the SMS id key).
func CheckLayout(ctx context.Context, rdb redis.UniversalClient, l Layout) error {
	want := l.String()
	held, err := rdb.Get(ctx, keyLayout).Result()
	switch {
	case errors.Is(err, redis.Nil):
		held, err = adoptLayout(ctx, rdb, want)
		if err != nil {
			return err
		}
	case err != nil:
		return fmt.Errorf("key layout (%s): %w", keyLayout, err)
	}
	if held != want {
		return fmt.Errorf("%w: Redis holds data written with the %s layout (%s), this process is configured for %s: set SMSFLEET_REDIS_PARTITIONS (and SMSFLEET_REDIS_MODE) as the rest of the fleet, or start on an empty Redis",
			ErrLayoutMismatch, held, keyLayout, want)
	}
	return nil
}

// adoptLayout records want as the layout of a Redis that records none,
// unless it holds data of an older version (plain), and returns the
// layout recorded.
func adoptLayout(ctx context.Context, rdb redis.UniversalClient, want string) (string, error) {
	if want != PlainLayout.String() {
		n, err := rdb.Exists(ctx, keyIDKey).Result()
		if err != nil {
			return "", fmt.Errorf("key layout: %w", err)
		}
		if n > 0 {
			return PlainLayout.String() + " (data from before " + keyLayout + " existed)", nil
		}
	}
	prev, err := rdb.SetArgs(ctx, keyLayout, want, redis.SetArgs{Mode: "NX", Get: true}).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return want, nil
	case err != nil:
		return "", fmt.Errorf("key layout (%s): %w", keyLayout, err)
	}
	return strings.TrimSpace(prev), nil
}

// RecordedLayout is the layout the fleet's data was written with, as
// sf:layout records it (the plain layout when nothing is recorded): for
// read-only tools, such as the monitor, that follow the fleet rather than
// a configuration of their own.
func RecordedLayout(ctx context.Context, rdb redis.UniversalClient) (Layout, error) {
	v, err := rdb.Get(ctx, keyLayout).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return PlainLayout, nil
	case err != nil:
		return Layout{}, fmt.Errorf("key layout (%s): %w", keyLayout, err)
	}
	if v == PlainLayout.String() {
		return PlainLayout, nil
	}
	n, err := strconv.Atoi(strings.TrimPrefix(v, "tagged/"))
	if !strings.HasPrefix(v, "tagged/") || err != nil || n < 1 || n > MaxPartitions {
		return Layout{}, fmt.Errorf("key layout (%s): %q is no layout", keyLayout, v)
	}
	return Layout{Tagged: true, Partitions: n}, nil
}
