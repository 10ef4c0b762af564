package store

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// TestScriptsNameNoKeys: keys come from KEYS, never from a prefix written
// in Lua or from bytes cut out of another key.
func TestScriptsNameNoKeys(t *testing.T) {
	for name, src := range scriptSources {
		for _, bad := range []string{"'sf:", `"sf:`, "string.sub("} {
			if strings.Contains(src, bad) {
				t.Errorf("script %s contains %s", name, bad)
			}
		}
	}
}

// TestScriptsTouchOnlyTheirKeys runs every script against a real
// redis-server and watches it with MONITOR: each command a script runs is
// asked for its keys (COMMAND GETKEYS), and each must be among the KEYS
// the caller passed. This is what Redis Cluster requires. It runs in the
// plain layout and in the tagged one (layout.go).
func TestScriptsTouchOnlyTheirKeys(t *testing.T) {
	for _, l := range []Layout{PlainLayout, {Tagged: true, Partitions: 16}} {
		t.Run(l.String(), func(t *testing.T) {
			r := testenv.NewRedis(t)
			ctx := context.Background()
			rdb := r.Client(t)
			now := time.Now()
			s := New(rdb, 24*time.Hour, WithClock(func() time.Time { return now }), WithLayout(l))
			if err := s.LoadScripts(ctx); err != nil {
				t.Fatal(err)
			}
			mon := newMonitor(t, r, rdb)
			for _, c := range scriptWalk(t, s, &now) {
				mon.check(t, c.name, c.run)
			}
			if mon.keys < 50 {
				t.Fatalf("only %d keys checked: is MONITOR showing the scripts' commands?", mon.keys)
			}
			for name, src := range scriptSources {
				if !mon.ran[redis.NewScript(src).Hash()] {
					t.Errorf("script %s never ran: add a case for it", name)
				}
			}
		})
	}
}

// walkStep is one step of scriptWalk.
type walkStep struct {
	name string
	run  func()
}

// scriptWalk is a life of devices, messages and SMS that runs every
// script through the Go that calls it (TestScriptsTouchOnlyTheirKeys
// checks that it does), on s, whose clock reads *now.
func scriptWalk(t *testing.T, s *Store, nowp *time.Time) []walkStep {
	ctx := context.Background()
	now := *nowp
	const app = "SHOP1-00001"
	direct := func(code, to string, typ sms.Type, dw time.Duration) string {
		m := &Message{App: app, Code: code, Type: typ, Content: `"hi"`, SendAt: now, Validity: time.Hour, Direct: true, ChunkSize: 10,
			DeliveryWait: dw, CappingDays: 1, CappingCount: 5, TransactionID: "txn-" + code}
		if _, _, err := s.CreateMessage(ctx, m, []Audience{{Zone: "UTC", SendAt: now, Phones: []string{to}}}); err != nil {
			t.Fatal(err)
		}
		return MustSMSID(t, s, code, to)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	return []walkStep{
		{"devices", func() {
			_, err := s.RegisterDevice(ctx, app, Device{Phone: "+4915100000001", UserID: "u1", Language: "de", Tags: map[string]json.RawMessage{"vip": json.RawMessage("true")}})
			must(err)
			_, err = s.RegisterDevice(ctx, app, Device{Phone: "+4915100000001", UserID: "u2"})
			must(err)
			must(s.RegisterDevices(ctx, app, []string{"+4915100000002", "+4915100000003"}))
			must(s.SetTags(ctx, app, "+4915100000002", map[string]json.RawMessage{"consent": json.RawMessage("true")}))
			_, err = s.UnregisterDevice(ctx, app, "+4915100000003")
			must(err)
		}},
		{"direct send, receipts", func() {
			id := direct("AAAA-00000000-00000001", "+4915100000001", sms.Transactional, time.Minute)
			ls, err := s.LoadBatch(ctx, []SMSRef{{ID: id}, {ID: id, App: app, Phone: "+4915100000001"}})
			must(err)
			ls[0].Attempting = "p"
			_, err = s.BeginBatch(ctx, ls[:1])
			must(err)
			must(s.Pin(ctx, id, "q"))
			must(s.RecordAttempts(ctx, id, "p", "boom", true, []Attempt{{Provider: "p", At: now, Outcome: "transient"}}))
			_, err = s.ApplyReceipts(ctx, []sms.Receipt{{Provider: "p", Ref: "R1", Status: sms.Delivered}}, time.Minute) // parked
			must(err)
			_, err = s.MarkSent(ctx, id, Outcome{Provider: "p", ProviderRef: "R1", Segments: 1, Attempts: []Attempt{{Provider: "p", At: now, Outcome: "sent"}}})
			must(err)
			_, err = s.ApplyReceipts(ctx, []sms.Receipt{{Provider: "p", Ref: "R1", Status: sms.Delivered}}, time.Minute)
			must(err)
		}},
		{"marketing capped, failed, suppressed, expired", func() {
			for i := range 3 {
				id := direct(fmt.Sprintf("AAAA-00000000-0000010%d", i), "+4915100000002", sms.Marketing, 0)
				ls, err := s.LoadBatch(ctx, []SMSRef{{ID: id, App: app, Phone: "+4915100000002"}})
				must(err)
				_, err = s.BeginBatch(ctx, ls)
				must(err)
				switch i {
				case 0:
					_, err = s.MarkFailed(ctx, id, Outcome{Error: "too_long"})
				case 1:
					_, err = s.MarkSuppressed(ctx, id, "opted_out")
				case 2:
					_, err = s.MarkExpired(ctx, id, "late")
				}
				must(err)
			}
		}},
		{"delivery wait ends, parked receipt dropped", func() {
			id := direct("AAAA-00000000-00000201", "+4915100000003", sms.OTP, time.Second)
			_, _, _, err := s.Begin(ctx, id, Loaded{ID: id, Type: sms.OTP})
			must(err)
			_, err = s.MarkSent(ctx, id, Outcome{Provider: "p", ProviderRef: "R2", Segments: 1})
			must(err)
			_, err = s.ApplyReceipts(ctx, []sms.Receipt{{Provider: "p", Ref: "LOST", Status: sms.Delivered}}, time.Second)
			must(err)
			*nowp = now.Add(time.Minute)
			moved := 0
			for p := range s.Partitions() {
				n, _, err := s.ExpireDeliveryWaits(ctx, p, 10)
				must(err)
				moved += n
			}
			if moved != 1 {
				t.Errorf("delivery waits ended: %d SMS moved, want 1", moved)
			}
			_, err = s.DropExpiredParked(ctx)
			must(err)
		}},
		{"opt-outs and replies", func() {
			const phone = "+4915100000021"
			must(s.rdb.ZAdd(ctx, s.k.optOut(app), redis.Z{Score: 1, Member: phone}).Err()) // a legacy opt-out
			_, err := s.AddOptOut(ctx, app, phone, "")
			must(err)
			_, err = s.ApplyReply(ctx, Reply{Phone: phone, Sender: "SHOP", Provider: "p", Apps: []string{app, "BANK1-00002"}})
			must(err)
			_, err = s.ApplyReply(ctx, Reply{Phone: phone, Sender: "SHOP", Provider: "p", Start: true, Apps: []string{app}})
			must(err)
			_, err = s.RemoveOptOut(ctx, app, phone, "")
			must(err)
			must(s.AddUnmatched(ctx, UnmatchedReply{Provider: "p", From: phone, To: "+4930000000", Keyword: "stop"}))
			must(s.AddUnmatched(ctx, UnmatchedReply{Provider: "p", From: phone, To: "+4930000000", ID: "in1", Text: "hello"}))
		}},
		{"inbound replies", func() {
			_, err := s.SaveInbound(ctx, app, InboundMessage{ID: "in2", Provider: "p", From: "+4915100000021", To: "SHOP", Text: "HELP", At: now, Keyword: "help"}, 0)
			must(err)
			must(s.MarkInboundStep(ctx, app, "in2", StepCallback, "1"))
			_, err = s.AdmitAnswer(ctx, app, "+4915100000021", "help", "in2", 1, time.Minute)
			must(err)
		}},
		{"privacy sweep", func() {
			code := "AAAA-00000000-00000401"
			direct(code, "+4915100000031", sms.OTP, time.Minute)
			px := s.k.privacy(s.k.partitionOf(code))
			must(s.rdb.ZAdd(ctx, px, redis.Z{Score: 1, Member: "t:" + code}, redis.Z{Score: 1, Member: "n:" + code}).Err())
			for p := range s.Partitions() {
				_, err := s.SweepPrivacy(ctx, p, 10)
				must(err)
			}
		}},
		{"fan-out and cancel", func() {
			m := &Message{App: app, Code: "AAAA-00000000-00000301", Type: sms.Marketing, Content: `"hi"`, SendAt: now, Validity: time.Hour, ChunkSize: 2}
			phones := []string{"+4915100000011", "+4915100000012", "+4915100000013"}
			_, _, err := s.CreateMessage(ctx, m, []Audience{{Zone: "UTC", SendAt: now, Phones: phones}, {Zone: "Asia/Tokyo", SendAt: now.Add(time.Hour), Phones: []string{"+4915100000014"}}})
			must(err)
			_, err = s.StartFanout(ctx, m.Code, 0)
			must(err)
			_, _, err = s.Materialize(ctx, *m, phones[:2], now.Add(time.Hour))
			must(err)
			_, err = s.CancelMessage(ctx, *m)
			must(err)
		}},
		{"targeted walk and cancel", func() {
			m := &Message{App: app, Code: "AAAA-00000000-00000302", Type: sms.Marketing, Content: `"hi"`, SendAt: now, Validity: time.Hour, ChunkSize: 2,
				Conditions: `{"conditions":[]}`}
			_, _, err := s.CreateMessage(ctx, m, []Audience{{Zone: "UTC", SendAt: now}})
			must(err)
			must(s.CommitTargeted(ctx, *m, 0, 0, []string{"+4915100000021", "+4915100000022"}, 7, false))
			_, err = s.Committed(ctx, m.Code, []string{"+4915100000021"})
			must(err)
			_, err = s.CancelMessage(ctx, *m)
			must(err)
		}},
	}
}

// monitor watches a redis-server's MONITOR feed.
type monitor struct {
	rdb   *redis.Client
	lines chan string
	ran   map[string]bool // script SHAs seen
	n     int
	keys  int // keys checked, so a feed that shows nothing cannot pass
}

func newMonitor(t *testing.T, r *testenv.Redis, rdb *redis.Client) *monitor {
	// A raw connection: MONITOR's feed is one simple string per command.
	conn, err := net.Dial("tcp", r.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if _, err := conn.Write([]byte("MONITOR\r\n")); err != nil {
		t.Fatal(err)
	}
	m := &monitor{rdb: rdb, lines: make(chan string, 100000), ran: map[string]bool{}}
	go func() {
		sc := bufio.NewScanner(conn)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			m.lines <- strings.TrimPrefix(sc.Text(), "+")
		}
	}()
	m.sync(t)
	return m
}

// sync sends a marker and returns every line the feed showed before it.
func (m *monitor) sync(t *testing.T) []string {
	t.Helper()
	m.n++
	marker := "monitor-sync-" + strconv.Itoa(m.n)
	var out []string
	timeout := time.After(10 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	if err := m.rdb.Echo(context.Background(), marker).Err(); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case l := <-m.lines:
			if strings.Contains(l, marker) {
				return out
			}
			out = append(out, l)
		case <-tick.C:
			// The first marker may precede MONITOR's start: send another.
			if m.n == 1 {
				_ = m.rdb.Echo(context.Background(), marker).Err()
			}
		case <-timeout:
			t.Fatalf("MONITOR never showed %s", marker)
		}
	}
}

// check runs fn and asserts that every key its scripts touched was passed
// in the KEYS of a script call it made.
func (m *monitor) check(t *testing.T, name string, fn func()) {
	t.Helper()
	m.sync(t)
	fn()
	declared := map[string]bool{}
	var touched [][]string
	for _, l := range m.sync(t) {
		args, fromLua := parseMonitorLine(l)
		if len(args) == 0 {
			continue
		}
		if fromLua {
			touched = append(touched, args)
			continue
		}
		switch strings.ToLower(args[0]) {
		case "evalsha", "eval":
			m.ran[args[1]] = true
			if args[0] == "eval" || args[0] == "EVAL" {
				m.ran[redis.NewScript(args[1]).Hash()] = true
			}
			n, _ := strconv.Atoi(args[2])
			for _, k := range args[3 : 3+n] {
				declared[k] = true
			}
		}
	}
	for _, args := range touched {
		a := make([]any, 0, len(args)+2)
		a = append(a, "COMMAND", "GETKEYS")
		for _, x := range args {
			a = append(a, x)
		}
		keys, err := m.rdb.Do(context.Background(), a...).StringSlice()
		if err != nil {
			continue // a command without keys
		}
		for _, k := range keys {
			m.keys++
			if !declared[k] {
				t.Errorf("%s: a script ran %q on key %q it was not given in KEYS", name, args, k)
			}
		}
	}
}

// parseMonitorLine splits `<time> [<db> <client>] "arg" "arg"...` into its
// arguments and reports whether a script ran the command.
func parseMonitorLine(l string) (args []string, fromLua bool) {
	i := strings.Index(l, "] ")
	if i < 0 {
		return nil, false
	}
	fromLua = strings.Contains(l[:i], " lua")
	rest := l[i+2:]
	for len(rest) > 0 {
		if rest[0] != '"' {
			rest = rest[1:]
			continue
		}
		var b strings.Builder
		j := 1
		for ; j < len(rest) && rest[j] != '"'; j++ {
			if rest[j] == '\\' && j+1 < len(rest) {
				j++
				switch rest[j] {
				case 'n':
					b.WriteByte('\n')
				case 'r':
					b.WriteByte('\r')
				case 't':
					b.WriteByte('\t')
				case 'x':
					v, _ := strconv.ParseUint(rest[j+1:j+3], 16, 8)
					b.WriteByte(byte(v))
					j += 2
				default:
					b.WriteByte(rest[j])
				}
				continue
			}
			b.WriteByte(rest[j])
		}
		args = append(args, b.String())
		rest = rest[min(j+1, len(rest)):]
	}
	return args, fromLua
}
