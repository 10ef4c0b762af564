package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// TestScriptCommandBudget runs each step of an SMS's life against a real
// redis-server, watches the commands its scripts run with MONITOR, and
// holds each step to a budget: Redis executes every script on its one
// thread, and each command a script runs costs about a microsecond of it,
// so these counts are the send path's Redis cost (docs/benchmarks.md, "Where
// the time goes"). No step may write one hash with more than one HSET:
// scripts write all of a hash's fields in one call, not one at a time.
func TestScriptCommandBudget(t *testing.T) {
	r := testenv.NewRedis(t)
	ctx := context.Background()
	rdb := r.Client(t)
	now := time.Now()
	s := New(rdb, 24*time.Hour, WithClock(func() time.Time { return now }))
	if err := s.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	mon := newMonitor(t, r, rdb)

	const app, phone = "SHOP1-00001", "+4915100000001"
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	var id string
	var loaded []Loaded
	cases := []struct {
		name string
		// max is the most commands the step's scripts may run.
		max int
		run func()
	}{
		{"register device with tags", 7, func() {
			_, err := s.RegisterDevice(ctx, app, Device{Phone: phone, UserID: "u1", Language: "de",
				Tags: map[string]json.RawMessage{"vip": json.RawMessage("true"), "city": json.RawMessage(`"Berlin"`)}})
			must(err)
		}},
		{"set tags, one deleted", 3, func() {
			must(s.SetTags(ctx, app, phone, map[string]json.RawMessage{"vip": nil, "consent": json.RawMessage("true")}))
		}},
		// 15: the message's partition step checks first that the message
		// does not exist (a transactionId replay after a crash between the
		// two steps, create.go).
		{"create a direct message", 15, func() {
			m := &Message{App: app, Code: "AAAA-00000000-00000001", Type: sms.Marketing, Content: `"hi"`, SendAt: now, Validity: time.Hour,
				Direct: true, ChunkSize: 10, DeliveryWait: time.Minute, CappingDays: 1, CappingCount: 5, TransactionID: "txn-1"}
			_, _, err := s.CreateMessage(ctx, m, []Audience{{Zone: "UTC", SendAt: now, Phones: []string{phone}}})
			must(err)
			id = MustSMSID(t, s, m.Code, phone)
		}},
		{"load", 6, func() {
			var err error
			loaded, err = s.LoadBatch(ctx, []SMSRef{{ID: id, App: app, Phone: phone}})
			must(err)
			loaded[0].Attempting = "p"
		}},
		{"begin a marketing SMS with capping", 10, func() {
			bs, err := s.BeginBatch(ctx, loaded)
			must(err)
			if !bs[0].OK || bs[0].Attempts != 1 {
				t.Fatalf("begin: %+v", bs[0])
			}
		}},
		{"record a failed attempt", 5, func() {
			must(s.RecordAttempts(ctx, id, "p", "boom", true, []Attempt{{Provider: "p", At: now, Outcome: "transient"}, {Provider: "q", At: now, Outcome: "transient"}}))
		}},
		{"mark sent", 13, func() {
			_, err := s.MarkSent(ctx, id, Outcome{Provider: "p", ProviderRef: "R1", Segments: 1, Operator: "DE:X",
				Attempts: []Attempt{{Provider: "p", At: now, Outcome: "sent"}, {Provider: "p", At: now, Outcome: "sent"}}})
			must(err)
		}},
		{"receipt", 7, func() {
			_, err := s.ApplyReceipts(ctx, []sms.Receipt{{Provider: "p", Ref: "R1", Status: sms.Delivered, ErrorCode: "000"}}, time.Minute)
			must(err)
		}},
		{"materialize two recipients of a fan-out", 12, func() {
			m := &Message{App: app, Code: "AAAA-00000000-00000002", Type: sms.Transactional, Content: `"hi"`, SendAt: now, Validity: time.Hour, ChunkSize: 10}
			phones := []string{"+4915100000011", "+4915100000012"}
			_, _, err := s.CreateMessage(ctx, m, []Audience{{Zone: "UTC", SendAt: now, Phones: phones}})
			must(err)
			mon.sync(t) // the budget is the materialize's alone
			_, _, err = s.Materialize(ctx, *m, phones, now.Add(time.Hour))
			must(err)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mon.sync(t)
			c.run()
			var cmds []string
			hsets := map[string]int{}
			for _, l := range mon.sync(t) {
				args, fromLua := parseMonitorLine(l)
				if !fromLua || len(args) == 0 {
					continue
				}
				cmds = append(cmds, strings.ToLower(args[0]))
				if strings.EqualFold(args[0], "hset") {
					hsets[args[1]]++
				}
			}
			if len(cmds) > c.max {
				t.Errorf("scripts ran %d commands, budget %d: %s", len(cmds), c.max, strings.Join(cmds, " "))
			}
			for key, n := range hsets {
				if n > 1 {
					t.Errorf("%d HSETs on %s: write the fields in one", n, key)
				}
			}
			t.Log(fmt.Sprintf("%d commands: %s", len(cmds), strings.Join(cmds, " ")))
		})
	}
}

// TestLuaStatusChecksMatchTheStatusMachine: the scripts' allowed() and
// outcome() (string constants, lua.go) agree with internal/sms on every
// pair of statuses, run by a real redis-server.
func TestLuaStatusChecksMatchTheStatusMachine(t *testing.T) {
	rdb := testenv.NewRedis(t).Client(t)
	src := luaAllowed + `
local out = {}
for _, from in ipairs(ARGV) do
  if outcome(from) then out[#out + 1] = from end
  for _, to in ipairs(ARGV) do
    if allowed(from, to) then out[#out + 1] = from .. '>' .. to end
  end
end
return out
`
	var args []any
	for _, st := range sms.AllStatuses {
		args = append(args, string(st))
	}
	// A prefix or suffix of a status must match nothing.
	args = append(args, "sen", "ent", "")
	got, err := rdb.Eval(context.Background(), src, nil, args...).StringSlice()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, from := range args {
		f := sms.Status(from.(string))
		if f.Outcome() {
			want = append(want, string(f))
		}
		for _, to := range args {
			if sms.CanMove(f, sms.Status(to.(string))) {
				want = append(want, string(f)+">"+to.(string))
			}
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Lua says\n%v\ninternal/sms says\n%v", got, want)
	}
}

// TestNewScriptRejectsUnknownField: a misspelt F.<name> fails when the
// script is registered (at start-up), not as a nil field name in Redis.
func TestNewScriptRejectsUnknownField(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "F.stt") {
			t.Errorf("newScript accepted F.stt (recovered %v)", r)
		}
	}()
	newScript("test-unknown-field", `return redis.call('HGET', KEYS[1], F.stt)`)
}
