package traffic

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// MaxWeight is the largest weight the operator may set (0..MaxWeight).
const MaxWeight = 1000

// State is the operator's control state at one version.
type State struct {
	Version int64
	// Drained providers take no new SMS.
	Drained map[string]bool
	// Weights replace the configured weights of the providers they name.
	Weights map[string]int
	// PausedLanes and PausedApps are paused (their SMS wait).
	PausedLanes map[string]bool
	PausedApps  map[string]bool
}

// parseState reads the state hash.
func parseState(h map[string]string) State {
	s := State{Drained: map[string]bool{}, Weights: map[string]int{}, PausedLanes: map[string]bool{}, PausedApps: map[string]bool{}}
	for f, v := range h {
		switch {
		case f == "v":
			s.Version, _ = strconv.ParseInt(v, 10, 64)
		case strings.HasPrefix(f, "p:") && strings.HasSuffix(f, ":d"):
			if v == "1" {
				s.Drained[f[2:len(f)-2]] = true
			}
		case strings.HasPrefix(f, "p:") && strings.HasSuffix(f, ":w"):
			if w, err := strconv.Atoi(v); err == nil {
				s.Weights[f[2:len(f)-2]] = w
			}
		case strings.HasPrefix(f, "l:"):
			if v == "1" {
				s.PausedLanes[f[2:]] = true
			}
		case strings.HasPrefix(f, "a:"):
			if v == "1" {
				s.PausedApps[f[2:]] = true
			}
		}
	}
	return s
}

// Store reads and changes the control state in Redis.
type Store struct {
	rdb      redis.UniversalClient
	auditMax int
	now      func() time.Time
}

// NewStore makes a Store; auditMax bounds the audit log (0: 1000).
func NewStore(rdb redis.UniversalClient, auditMax int, now func() time.Time) *Store {
	if auditMax <= 0 {
		auditMax = 1000
	}
	if now == nil {
		now = time.Now
	}
	return &Store{rdb: rdb, auditMax: auditMax, now: now}
}

// Version is the state's version (0: never changed).
func (s *Store) Version(ctx context.Context) (int64, error) {
	v, err := s.rdb.HGet(ctx, keyState, "v").Int64()
	if err == redis.Nil {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("traffic: read version: %w", err)
	}
	return v, nil
}

// Load reads the whole state.
func (s *Store) Load(ctx context.Context) (State, error) {
	h, err := s.rdb.HGetAll(ctx, keyState).Result()
	if err != nil {
		return State{}, fmt.Errorf("traffic: read state: %w", err)
	}
	return parseState(h), nil
}

// Change is one operator change: fields of the state hash to set ("" to
// remove), by who, described by what.
type Change struct {
	Who, What string
	Set       map[string]string
}

// DrainProvider, WeightProvider, PauseLane and PauseApp are the fields a
// Change sets; a nil weight clears the operator's weight (the configured
// one applies again).
func DrainProvider(c *Change, prov string, drained bool) { c.Set[fieldDrained(prov)] = flag(drained) }

// WeightProvider sets (or, nil, clears) the operator's weight of prov.
func WeightProvider(c *Change, prov string, w *int) {
	if w == nil {
		c.Set[fieldWeight(prov)] = ""
		return
	}
	c.Set[fieldWeight(prov)] = strconv.Itoa(*w)
}

// PauseLane pauses or resumes a lane.
func PauseLane(c *Change, lane string, paused bool) { c.Set[fieldLane(lane)] = flag(paused) }

// PauseApp pauses or resumes an application.
func PauseApp(c *Change, app string, paused bool) { c.Set[fieldApp(app)] = flag(paused) }

func flag(b bool) string {
	if b {
		return "1"
	}
	return ""
}

// applyScript applies a change and audits it in one step, so no change
// goes unaudited and no audit entry describes a change that did not
// happen. KEYS: state, audit. ARGV: who, at (unix ms), what, audit bound,
// then field/value pairs ("" removes the field). It returns the new
// version. An absent value is "" in the entry's before and after.
var applyScript = redis.NewScript(`
local before, after = {}, {}
for i = 5, #ARGV, 2 do
  local f, v = ARGV[i], ARGV[i + 1]
  before[f] = redis.call('HGET', KEYS[1], f) or ''
  if v == '' then redis.call('HDEL', KEYS[1], f) else redis.call('HSET', KEYS[1], f, v) end
  after[f] = v
end
local ver = redis.call('HINCRBY', KEYS[1], 'v', 1)
local entry = cjson.encode({version = ver, who = ARGV[1], at = tonumber(ARGV[2]), what = ARGV[3], before = before, after = after})
redis.call('LPUSH', KEYS[2], entry)
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[4]) - 1)
return ver
`)

// Apply makes a change and audits it; it returns the state's new version.
func (s *Store) Apply(ctx context.Context, c Change) (int64, error) {
	args := []any{c.Who, s.now().UnixMilli(), c.What, s.auditMax}
	for _, f := range slices.Sorted(maps.Keys(c.Set)) {
		args = append(args, f, c.Set[f])
	}
	v, err := applyScript.Run(ctx, s.rdb, []string{keyState, keyAudit}, args...).Int64()
	if err != nil {
		return 0, fmt.Errorf("traffic: apply %s: %w", c.What, err)
	}
	return v, nil
}

// AuditEntry is one audited change.
type AuditEntry struct {
	Version int64             `json:"version"`
	Who     string            `json:"who"`
	At      time.Time         `json:"at"`
	What    string            `json:"what"`
	Before  map[string]string `json:"before"`
	After   map[string]string `json:"after"`
}

// Audit returns the newest limit audit entries, newest first.
func (s *Store) Audit(ctx context.Context, limit int) ([]AuditEntry, error) {
	raw, err := s.rdb.LRange(ctx, keyAudit, 0, int64(limit)-1).Result()
	if err != nil {
		return nil, fmt.Errorf("traffic: read audit: %w", err)
	}
	out := make([]AuditEntry, 0, len(raw))
	for _, r := range raw {
		var e struct {
			Version int64 `json:"version"`
			Who     string
			At      int64
			What    string
			// An empty Lua table encodes as [], not {}: decoded loosely.
			Before, After json.RawMessage
		}
		if err := json.Unmarshal([]byte(r), &e); err != nil {
			return nil, fmt.Errorf("traffic: audit entry: %w", err)
		}
		out = append(out, AuditEntry{Version: e.Version, Who: e.Who, At: time.UnixMilli(e.At).UTC(), What: e.What,
			Before: looseMap(e.Before), After: looseMap(e.After)})
	}
	return out, nil
}

func looseMap(raw json.RawMessage) map[string]string {
	m := map[string]string{}
	_ = json.Unmarshal(raw, &m) // [] (an empty table) leaves it empty
	return m
}

// PodReport is what a pod last said it applied.
type PodReport struct {
	Pod string `json:"pod"`
	// Version is the control state version the pod applies.
	Version int64 `json:"version"`
	// QualityAt is the clock reading (unix ms) of the pod's last quality
	// evaluation.
	QualityAt int64 `json:"quality_at"`
	// Seen is when it reported (unix ms).
	Seen int64 `json:"seen"`
}

// reportScript records a pod's report and forgets pods silent since
// before ARGV[3]. KEYS: pods, seen. ARGV: pod, report JSON, now ms,
// cutoff ms.
var reportScript = redis.NewScript(`
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[4])
for _, p in ipairs(gone) do
  redis.call('HDEL', KEYS[1], p)
  redis.call('ZREM', KEYS[2], p)
end
return #gone
`)

// Report records what pod applied. Seen is the real clock: it ages pods
// out, and an injected test clock must not make live pods look gone.
func (s *Store) Report(ctx context.Context, r PodReport) error {
	now := time.Now()
	r.Seen = now.UnixMilli()
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := reportScript.Run(ctx, s.rdb, []string{keyPods, keySeen}, r.Pod, string(b), r.Seen, now.Add(-podExpiry).UnixMilli()).Err(); err != nil {
		return fmt.Errorf("traffic: report pod %s: %w", r.Pod, err)
	}
	return nil
}

// Pods returns every pod's last report, by pod id.
func (s *Store) Pods(ctx context.Context) ([]PodReport, error) {
	h, err := s.rdb.HGetAll(ctx, keyPods).Result()
	if err != nil {
		return nil, fmt.Errorf("traffic: read pods: %w", err)
	}
	out := make([]PodReport, 0, len(h))
	for _, id := range slices.Sorted(maps.Keys(h)) {
		var r PodReport
		if json.Unmarshal([]byte(h[id]), &r) == nil {
			out = append(out, r)
		}
	}
	return out, nil
}
