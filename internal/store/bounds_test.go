package store

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// keyBounds is how each key of the key table (keys.go) is kept from
// growing: "ttl" (it expires; the test checks every such key written by
// a send has a TTL) or the bound that holds it (docs/decisions.md#19).
var keyBounds = map[string]string{
	"sf:d:":     "device: kept until unregistered, at most SMSFLEET_MAX_DEVICES_PER_APP per application (docs/decisions.md#19)",
	"sf:ds:":    "one member per registered device: at most SMSFLEET_MAX_DEVICES_PER_APP",
	"sf:u:":     "each registered device is in exactly one user set",
	"sf:m:":     "ttl",
	"sf:mr:":    "ttl",
	"sf:mt:":    "ttl",
	"sf:ml:":    "ttl",
	"sf:mseq:":  "ttl",
	"sf:tx:":    "ttl",
	"sf:outbox": "entries removed on enqueue / load, or by the outbox sweep",
	"sf:s:":     "ttl",
	"sf:sa:":    "ttl",
	"sf:ref:":   "ttl",
	"sf:park:":  "ttl",
	"sf:dw":     "entries removed when the delivery wait ends (DeliveryWaitSweeper)",
	"sf:oc":     "relay deletes what it published; OutcomeTrimmer caps it at SMSFLEET_OUTCOMES_MAX",
	"sf:pz":     "entries removed when the park window ends (ParkedSweeper)",
	"sf:cnt":    "one hash of a few fleet-wide counters",
	"sf:rq:":    "ttl",
	"sf:oo:":    "one member per opted-out phone of the application",
	"sf:or:":    "one hash per member of sf:oo:, a field per scope (the application, or a sender it sends from); removed with the member",
	"sf:ibu":    "capped at UnmatchedMax entries and UnmatchedRetention of age; expires when idle",
	"sf:ibi:":   "capped at UnmatchedMax ids and UnmatchedRetention of age, as sf:ibu; expires when idle",
	"sf:in:":    "ttl",
	"sf:il:":    "ttl",
	"sf:ip:":    "ttl",
	"sf:at:":    "ttl",
	"sf:fc:":    "ttl",
	"sf:p:":     "preset: created and deleted by the application's API calls",
	"sf:pl:":    "one member per preset of the application",
	"sf:idkey":  "one key per fleet, written once (docs/decisions.md#20)",
	"sf:layout": "one key per fleet, written once (docs/decisions.md#22)",
	"sf:wh:":    "ttl",
	"sf:hp:":    "ttl",
	"sf:hkey":   "one key per fleet, written once (Message History sessions)",
	"sf:qf:":    "ttl",
	"sf:cd:":    "ttl",
	"sf:gp:":    "ttl",
	"sf:gx:":    "ttl",
	"sf:gm:":    "ttl",
	"sf:gr:":    "ttl",
	"sf:qt:":    "ttl",
	"sf:qv:":    "ttl",
	"sf:qw:":    "ttl",
	"sf:mo:":    "ttl: the MO timeout from the first part, and again once handed on",
	"sf:px":     "entries removed when due by the privacy sweep (DeliveryWaitSweeper), each within the statistics retention",
}

// keyTable reads the key patterns from keys.go's table comment.
func keyTable(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile("keys.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^//\t(sf:[a-z]+:?)\S*\s`)
	var out []string
	for _, m := range re.FindAllStringSubmatch(string(src), -1) {
		out = append(out, m[1])
	}
	if len(out) < 20 {
		t.Fatalf("read %d key patterns from keys.go's table, want them all", len(out))
	}
	return out
}

// patternOf is the key table's pattern of a key (the longest prefix).
func patternOf(key string) string {
	best := ""
	for p := range keyBounds {
		if (key == p || strings.HasPrefix(key, p) && strings.HasSuffix(p, ":")) && len(p) > len(best) {
			best = p
		}
	}
	return best
}

// sendEverything runs n single sends and one fanned-out message through
// the store as the fleet does: create, load, begin, sent with attempts,
// a delivery receipt, a receipt parked before its SMS, a stats request.
func sendEverything(t testing.TB, st *Store, n int) {
	ctx := context.Background()
	app := "SHOP1-00001"
	for i := range n {
		phone := fmt.Sprintf("+49151%08d", i)
		code := fmt.Sprintf("SEND-%08d-00000000", i)
		m := &Message{App: app, Code: code, Type: sms.Transactional, Content: `"Your code is 123456"`, SendAt: st.now(), Validity: time.Hour,
			Direct: true, ChunkSize: 1000, TransactionID: "txn-" + code, DeliveryWait: time.Hour}
		if _, _, err := st.CreateMessage(ctx, m, []Audience{{Zone: "UTC", SendAt: st.now(), Phones: []string{phone}}}); err != nil {
			t.Fatal(err)
		}
		id := MustSMSID(t, st, code, phone)
		l, ok, err := st.LoadSMS(ctx, id)
		if err != nil || !ok {
			t.Fatalf("load %s: %v %v", id, ok, err)
		}
		if _, _, ok, err := st.Begin(ctx, id, l); err != nil || !ok {
			t.Fatalf("begin %s: %v %v", id, ok, err)
		}
		ref := "ref-" + code
		if _, err := st.MarkSent(ctx, id, Outcome{Provider: "sim", ProviderRef: ref, Segments: 1, Cost: 45_000, Priced: true, Encoding: "GSM-7", Operator: "de-telekom",
			Attempts: []Attempt{{Provider: "sim", At: st.now(), Outcome: "sent"}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.ApplyReceipt(ctx, "sim", ref, sms.Delivered, ""); err != nil {
			t.Fatal(err)
		}
	}
	m := &Message{App: app, Code: "FANO-00000000-00000000", Type: sms.Marketing, Content: `"news"`, SendAt: st.now(), Validity: time.Hour, ChunkSize: 2}
	phones := []string{"+4915190000001", "+4915190000002", "+4915190000003"}
	if _, _, err := st.CreateMessage(ctx, m, []Audience{{Zone: "UTC", SendAt: st.now(), Phones: phones}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Materialize(ctx, *m, phones, st.now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ApplyReceipts(ctx, []sms.Receipt{{Provider: "sim", Ref: "early", Status: sms.Delivered}}, time.Hour); err != nil {
		t.Fatal(err)
	}
	// A targeted message's walk, midway: its committed set.
	tm := &Message{App: app, Code: "TARG-00000000-00000000", Type: sms.Marketing, Content: `"news"`, SendAt: st.now(), Validity: time.Hour, ChunkSize: 2,
		Conditions: `{"conditions":[]}`}
	if _, _, err := st.CreateMessage(ctx, tm, []Audience{{Zone: "UTC", SendAt: st.now()}}); err != nil {
		t.Fatal(err)
	}
	if err := st.CommitTargeted(ctx, *tm, 0, 0, phones[:2], 1, false); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveStatsRequest(ctx, "rq1", app, m.Code); err != nil {
		t.Fatal(err)
	}
}

// TestEveryKeyASendWritesHasABoundOrATTL (issue 12, item 12): every
// pattern of the key table says how it is bounded, and every key a send
// writes either expires or is one of the bounded patterns.
func TestEveryKeyASendWritesHasABoundOrATTL(t *testing.T) {
	for _, p := range keyTable(t) {
		if keyBounds[p] == "" {
			t.Errorf("key pattern %s of keys.go has no TTL or bound in keyBounds", p)
		}
	}
	r := testenv.NewRedis(t)
	rdb := r.Client(t)
	st := New(rdb, 24*time.Hour)
	ctx := context.Background()
	if err := st.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.RegisterDevices(ctx, "SHOP1-00001", []string{"+4915190000001"}); err != nil {
		t.Fatal(err)
	}
	sendEverything(t, st, 3)
	keys, err := rdb.Keys(ctx, "sf:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(keys)
	seen := map[string]bool{}
	for _, k := range keys {
		p := patternOf(k)
		seen[p] = true
		ttl, err := rdb.TTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case p == "":
			t.Errorf("key %s is in no pattern of the key table", k)
		case keyBounds[p] == "ttl" && ttl <= 0:
			t.Errorf("key %s (%s) has no TTL (%v)", k, p, ttl)
		}
	}
	for _, p := range []string{"sf:m:", "sf:ml:", "sf:mseq:", "sf:tx:", "sf:s:", "sf:sa:", "sf:ref:", "sf:park:", "sf:oc", "sf:rq:", "sf:mr:", "sf:mt:"} {
		if !seen[p] {
			t.Errorf("the send wrote no %s key: the walk does not cover it", p)
		}
	}
}

// TestMessageListIsTrimmedPastTheRetention: the application's list drops
// entries whose messages expired, at the next write.
func TestMessageListIsTrimmedPastTheRetention(t *testing.T) {
	r := testenv.NewRedis(t)
	rdb := r.Client(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st := New(rdb, time.Hour, WithClock(func() time.Time { return now }))
	ctx := context.Background()
	write := func(code string) {
		m := &Message{App: "A", Code: code, Type: sms.Transactional, Content: `"x"`, SendAt: now, Validity: time.Minute, Direct: true, ChunkSize: 10}
		if _, _, err := st.CreateMessage(ctx, m, []Audience{{SendAt: now, Phones: []string{"+4915112000001"}}}); err != nil {
			t.Fatal(err)
		}
	}
	write("OLD1-00000000-00000000")
	now = now.Add(2 * time.Hour)
	write("NEW1-00000000-00000000")
	got, err := rdb.ZRange(ctx, msgListKey("A"), 0, -1).Result()
	if err != nil || len(got) != 1 || got[0] != "NEW1-00000000-00000000" {
		t.Fatalf("list %v %v, want only the message within the retention", got, err)
	}
	if ttl, _ := rdb.TTL(ctx, msgListKey("A")).Result(); ttl <= 0 {
		t.Fatalf("list TTL %v", ttl)
	}
}

// TestOutcomeStreamIsCapped: beyond the cap the oldest events go, counted.
func TestOutcomeStreamIsCapped(t *testing.T) {
	r := testenv.NewRedis(t)
	rdb := r.Client(t)
	st := New(rdb, time.Hour)
	ctx := context.Background()
	if err := st.EnsureOutcomeGroup(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 5000 {
		rdb.XAdd(ctx, &redis.XAddArgs{Stream: plainKeys.outcome(0), Values: []any{"id", fmt.Sprint(i), "st", "delivered", "at", "0"}})
	}
	n, err := st.TrimOutcomes(ctx, 1000)
	if err != nil || n < 3000 {
		t.Fatalf("trimmed %d (%v)", n, err)
	}
	left, _ := st.OutcomeBacklog(ctx)
	total, _ := st.TrimmedOutcomes(ctx)
	if left+n != 5000 || total != n || left < 1000 {
		t.Fatalf("left %d, trimmed %d, counted %d", left, n, total)
	}
}

// TestMeasureMemory prints Redis memory per single send and per device
// (docs/operations.md, "Sizing"). Run by hand:
//
//	SMSFLEET_MEASURE=10000 go test ./internal/store/ -run TestMeasureMemory -v
func TestMeasureMemory(t *testing.T) {
	if os.Getenv("SMSFLEET_MEASURE") == "" {
		t.Skip("set SMSFLEET_MEASURE=<sends> to measure")
	}
	var n int
	fmt.Sscan(os.Getenv("SMSFLEET_MEASURE"), &n)
	r := testenv.NewRedis(t)
	rdb := r.Client(t)
	st := New(rdb, 720*time.Hour)
	ctx := context.Background()
	if err := st.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	used := func() int64 {
		v, err := r.UsedMemory(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	m0 := used()
	sendEverything(t, st, n)
	m1 := used()
	// The relay publishes and deletes the outcome events.
	oc, _ := rdb.MemoryUsage(ctx, plainKeys.outcome(0)).Result()
	perKey := map[string]int64{}
	for _, k := range []string{msgKey("SEND-00000001-00000000"), smsKey(MustSMSID(t, st, "SEND-00000001-00000000", "+4915100000001")),
		attemptsKey(MustSMSID(t, st, "SEND-00000001-00000000", "+4915100000001")), refKey("sim", "ref-SEND-00000001-00000000"), txnKey("SHOP1-00001", "txn-SEND-00000001-00000000")} {
		perKey[k], _ = rdb.MemoryUsage(ctx, k).Result()
	}
	ml, _ := rdb.MemoryUsage(ctx, msgListKey("SHOP1-00001")).Result()
	rdb.Del(ctx, plainKeys.outcome(0))
	m2 := used()
	phones := make([]string, n)
	for i := range phones {
		phones[i] = fmt.Sprintf("+49152%08d", i)
	}
	if err := st.RegisterDevices(ctx, "SHOP2-00002", phones); err != nil {
		t.Fatal(err)
	}
	m3 := used()
	d, _ := rdb.MemoryUsage(ctx, deviceKey("SHOP2-00002", phones[1])).Result()
	t.Logf("sends %d: used_memory +%d B = %d B per send (with its outcome event still in sf:oc); %d B per send once relayed",
		n, m1-m0, (m1-m0)/int64(n), (m2-m0)/int64(n))
	t.Logf("MEMORY USAGE per send: %v; sf:ml %d B (%d B/entry); sf:oc %d B (%d B/event)", perKey, ml, ml/int64(n), oc, oc/int64(n))
	t.Logf("devices %d: used_memory +%d B = %d B per bare device (sf:d hash %d B + sf:ds member + sf:u set)", n, m3-m2, (m3-m2)/int64(n), d)
}
