package store

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// privacyStore is a store on a fresh Redis whose clock the test moves,
// with application app's retentions r.
func privacyStore(t *testing.T, now *time.Time, r Retentions) (*Store, redis.UniversalClient) {
	t.Helper()
	rdb := testenv.NewRedis(t).Client(t)
	st := New(rdb, r.Stats, WithClock(func() time.Time { return *now }), WithRetentions(func(string) Retentions { return r }))
	if err := st.LoadScripts(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st, rdb
}

const privApp = "PRIV0-00001"

// sendDirect creates a direct message to phone and takes it through
// load, begin and sent; it returns the SMS id.
func sendDirect(t *testing.T, st *Store, code, phone, content string, redact bool, ref string) string {
	t.Helper()
	ctx := context.Background()
	m := &Message{App: privApp, Code: code, Type: sms.OTP, Content: content, Placeholders: `{"name":"Ada"}`, SendAt: st.now(), Validity: time.Hour,
		DeliveryWait: time.Hour, Direct: true, ChunkSize: 10, Redact: redact}
	if _, _, err := st.CreateMessage(ctx, m, []Audience{{Zone: "UTC", SendAt: st.now(), Phones: []string{phone}}}); err != nil {
		t.Fatal(err)
	}
	id := MustSMSID(t, st, code, phone)
	l, ok, err := st.LoadSMS(ctx, id)
	if err != nil || !ok {
		t.Fatalf("load %s: %v %v", id, ok, err)
	}
	if l.Content != content {
		t.Fatalf("loaded content %q, want %q", l.Content, content)
	}
	if _, _, ok, err := st.Begin(ctx, id, l); err != nil || !ok {
		t.Fatalf("begin: %v %v", ok, err)
	}
	if _, err := st.MarkSent(ctx, id, Outcome{Provider: "sim", ProviderRef: ref, Segments: 2, Encoding: "UCS-2"}); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestRedactionOnSettle: a message to redact keeps its text until its SMS
// is settled (a retry needs it; sent is not settled), loses text and
// placeholders in the step that settles it, and keeps its counts and the
// SMS's statistics; a message not to redact keeps its text.
func TestRedactionOnSettle(t *testing.T) {
	for _, tc := range []struct {
		name   string
		redact bool
		settle func(st *Store, now *time.Time, ref string) error
		status sms.Status
	}{
		{"delivered", true, func(st *Store, now *time.Time, ref string) error {
			_, err := st.ApplyReceipt(context.Background(), "sim", ref, sms.Delivered, "")
			return err
		}, sms.Delivered},
		{"undelivered", true, func(st *Store, now *time.Time, ref string) error {
			_, err := st.ApplyReceipt(context.Background(), "sim", ref, sms.Undelivered, "001")
			return err
		}, sms.Undelivered},
		{"unknown after the delivery wait", true, func(st *Store, now *time.Time, ref string) error {
			*now = now.Add(2 * time.Hour)
			_, _, err := st.ExpireDeliveryWaits(context.Background(), 0, 10)
			return err
		}, sms.Unknown},
		{"not asked", false, func(st *Store, now *time.Time, ref string) error {
			_, err := st.ApplyReceipt(context.Background(), "sim", ref, sms.Delivered, "")
			return err
		}, sms.Delivered},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			st, _ := privacyStore(t, &now, Retentions{Stats: 24 * time.Hour})
			ctx := context.Background()
			code, ref := "PRIV-00000000-00000001", "ref-1"
			id := sendDirect(t, st, code, "+4915190000001", `"Your code is 123456"`, tc.redact, ref)
			m, err := st.GetMessage(ctx, privApp, code)
			if err != nil {
				t.Fatal(err)
			}
			if m.Content == "" || m.TextGone != "" {
				t.Fatalf("sent, not settled: content %q, text gone %q; want the text kept", m.Content, m.TextGone)
			}
			if err := tc.settle(st, &now, ref); err != nil {
				t.Fatal(err)
			}
			m, err = st.GetMessage(ctx, privApp, code)
			if err != nil {
				t.Fatal(err)
			}
			if tc.redact && (m.Content != "" || m.Placeholders != "" || m.TextGone != TextRedacted) {
				t.Errorf("settled: content %q, placeholders %q, text gone %q; want both removed and %q", m.Content, m.Placeholders, m.TextGone, TextRedacted)
			}
			if !tc.redact && (m.Content == "" || m.TextGone != "") {
				t.Errorf("not to redact: content %q, text gone %q", m.Content, m.TextGone)
			}
			if m.Counts[tc.status] != 1 || m.Segments != 2 {
				t.Errorf("counts %v, segments %d; want one %s and 2 segments", m.Counts, m.Segments, tc.status)
			}
			rec, err := st.GetSMS(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Status != tc.status || rec.Segments != 2 || rec.Encoding != "UCS-2" || rec.Provider != "sim" {
				t.Errorf("record %+v: want its statistics kept", rec)
			}
		})
	}
}

// TestRedactionOfAFannedOutMessage: the template every recipient's text
// came from is removed with the last SMS settled, not before, also when a
// cancel settles the rest.
func TestRedactionOfAFannedOutMessage(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	st, _ := privacyStore(t, &now, Retentions{Stats: 24 * time.Hour})
	ctx := context.Background()
	m := &Message{App: privApp, Code: "FANO-00000000-00000001", Type: sms.Transactional, Content: `"Hi {name}"`, SendAt: now, Validity: time.Hour, ChunkSize: 2, Redact: true}
	phones := []string{"+4915190000001", "+4915190000002", "+4915190000003"}
	later := []string{"+4915190000004"}
	if _, _, err := st.CreateMessage(ctx, m, []Audience{{Zone: "UTC", SendAt: now, Phones: phones}, {Zone: "Asia/Tokyo", SendAt: now.Add(time.Hour), Phones: later}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.StartFanout(ctx, m.Code, 0); err != nil {
		t.Fatal(err)
	}
	ids, _, err := st.Materialize(ctx, *m, phones, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	text := func() string {
		got, err := st.GetMessage(ctx, privApp, m.Code)
		if err != nil {
			t.Fatal(err)
		}
		return got.Content
	}
	for i, id := range ids {
		if _, err := st.MarkFailed(ctx, id, Outcome{Error: "boom"}); err != nil {
			t.Fatal(err)
		}
		if i < len(ids)-1 && text() == "" {
			t.Fatalf("text removed after %d of %d SMS settled", i+1, len(ids))
		}
	}
	if text() == "" {
		t.Fatal("text removed while the second group is still scheduled")
	}
	if _, err := st.CancelMessage(ctx, *m); err != nil {
		t.Fatal(err)
	}
	got, err := st.GetMessage(ctx, privApp, m.Code)
	if err != nil {
		t.Fatal(err)
	}
	if got.Content != "" || got.TextGone != TextRedacted {
		t.Errorf("every SMS settled: content %q, text gone %q", got.Content, got.TextGone)
	}
	if got.Counts[sms.Failed] != 3 || got.Counts[sms.Canceled] != 1 {
		t.Errorf("counts %v, want 3 failed and 1 canceled", got.Counts)
	}
}

// TestTextAndNumberRetention: a text retention shorter than the
// statistics one removes the text, a number retention the number, and
// the message with its counts stays; the keys holding numbers expire
// with the number retention (TTLs checked, the sweep driven by the
// store's clock).
func TestTextAndNumberRetention(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	r := Retentions{Stats: 240 * time.Hour, Texts: 2 * time.Hour, Numbers: 10 * time.Hour}
	st, rdb := privacyStore(t, &now, r)
	ctx := context.Background()
	code, phone := "PRIV-00000000-00000002", "+4915190000009"
	id := sendDirect(t, st, code, phone, `"Your code is 123456"`, false, "ref-2")
	if _, err := st.ApplyReceipt(ctx, "sim", "ref-2", sms.Delivered, ""); err != nil {
		t.Fatal(err)
	}
	// validity 1h and delivery wait 1h: the number is kept until 1h + 1h
	// + 10h from now, the message 240h.
	ttl := func(k string) time.Duration {
		d, err := rdb.TTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := ttl(st.k.sms(id)); d != 12*time.Hour {
		t.Errorf("SMS record TTL %s, want 12h (number retention after it can last settle)", d)
	}
	if d := ttl(st.k.phoneIndex(privApp, phone)); d <= 0 || d > r.Numbers {
		t.Errorf("per-phone index TTL %s, want at most the number retention %s", d, r.Numbers)
	}
	if d := ttl(st.k.msg(code)); d != r.Stats {
		t.Errorf("message TTL %s, want the statistics retention %s", d, r.Stats)
	}
	sweep := func() {
		t.Helper()
		if _, err := st.SweepPrivacy(ctx, 0, 100); err != nil {
			t.Fatal(err)
		}
	}
	get := func() Message {
		t.Helper()
		m, err := st.GetMessage(ctx, privApp, code)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	now = now.Add(3*time.Hour - time.Second) // the text is due at 1h + 2h
	sweep()
	if m := get(); m.Content == "" {
		t.Fatal("text removed before its retention ended")
	}
	now = now.Add(time.Second)
	sweep()
	m := get()
	if m.Content != "" || m.Placeholders != "" || m.TextGone != TextExpired {
		t.Errorf("text retention ended: content %q, placeholders %q, text gone %q", m.Content, m.Placeholders, m.TextGone)
	}
	if m.To != phone || m.Counts[sms.Delivered] != 1 {
		t.Errorf("to %q, counts %v: want the number and counts kept", m.To, m.Counts)
	}
	now = now.Add(9 * time.Hour) // the number is due at 1h + 1h + 10h
	sweep()
	m = get()
	if m.To != "" || m.Counts[sms.Delivered] != 1 || m.Segments != 2 {
		t.Errorf("number retention ended: to %q, counts %v, segments %d; want no number, the counts kept", m.To, m.Counts, m.Segments)
	}
	if n, err := rdb.ZCard(ctx, st.k.privacy(0)).Result(); err != nil || n != 0 {
		t.Errorf("%d sweep entries left (%v), want none", n, err)
	}
}

// TestNoNumberOrTextOutlivesItsRetention walks the keyspace after a send
// of everything (sendEverything) and asserts that each key holding a
// number or a text either expires within the retention docs/privacy.md
// gives it or is removed by a sweep entry due within it, so the privacy
// document stays true. Devices (sf:d, sf:ds, sf:u) are the application's
// registrations, kept until unregistered, as the document says.
func TestNoNumberOrTextOutlivesItsRetention(t *testing.T) {
	now := time.Now()
	r := Retentions{Stats: 240 * time.Hour, Texts: 2 * time.Hour, Numbers: 3 * time.Hour}
	st, rdb := privacyStore(t, &now, r)
	ctx := context.Background()
	if err := st.RegisterDevices(ctx, "SHOP1-00001", []string{"+4915190000001"}); err != nil {
		t.Fatal(err)
	}
	sendEverything(t, st, 3)
	// A provider error quoting the number, on a retry and on a failure.
	quoted := sendDirect(t, st, "PRIV-00000000-00000003", "+4915190000042", `"hello"`, false, "ref-3")
	if err := st.RecordAttempts(ctx, quoted, "sim", "rejected +4915190000042: busy", false, []Attempt{{Provider: "sim", At: now, Outcome: "transient", Error: "rejected +4915190000042: busy"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.MarkFailed(ctx, quoted, Outcome{Provider: "sim", Error: "number +4915190000042 unknown", Attempts: []Attempt{{Provider: "sim", At: now, Outcome: "permanent", Error: "number +4915190000042 unknown"}}}); err != nil {
		t.Fatal(err)
	}
	if d := dumpKey(t, rdb, st.k.attempts(quoted)); fullNumber.MatchString(d) {
		t.Errorf("the attempt history keeps the number a provider quoted: %s", d)
	}
	// sendEverything's SMS are due now with validity and delivery wait
	// of at most 1h each.
	numberBound := r.Numbers + 2*time.Hour
	textBound := r.Texts + time.Hour
	keys, err := rdb.Keys(ctx, "sf:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	due := map[string]time.Time{}
	for p := range st.Partitions() {
		zs, err := rdb.ZRangeWithScores(ctx, st.k.privacy(p), 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, z := range zs {
			due[z.Member.(string)] = time.UnixMilli(int64(z.Score))
		}
	}
	checked := 0
	for _, k := range keys {
		dump := dumpKey(t, rdb, k)
		number := fullNumber.MatchString(k) || fullNumber.MatchString(dump)
		text := strings.Contains(dump, "Your code is") || strings.Contains(dump, "news")
		if !number && !text {
			continue
		}
		checked++
		switch p := patternOf(k); p {
		case "sf:d:", "sf:ds:", "sf:u:":
			continue // registrations (docs/privacy.md)
		case "sf:m:":
			code := strings.TrimPrefix(k, p)
			if text && !within(due["t:"+code], now, textBound) {
				t.Errorf("%s holds a text with no removal due within %s (due %v)", k, textBound, due["t:"+code])
			}
			if fullNumber.MatchString(dump) && !within(due["n:"+code], now, numberBound) {
				t.Errorf("%s holds a number with no removal due within %s", k, numberBound)
			}
		default:
			d, err := rdb.TTL(ctx, k).Result()
			if err != nil {
				t.Fatal(err)
			}
			bound := numberBound
			if text {
				bound = min(bound, textBound)
			}
			if d <= 0 || d > bound {
				t.Errorf("%s (%s) holds a number or text and expires in %s, want within %s", k, p, d, bound)
			}
		}
	}
	if checked < 10 {
		t.Fatalf("only %d keys held a number or a text: the walk covers nothing", checked)
	}
}

// fullNumber is an unmasked E.164 number (sms.MaskPhone keeps the first
// five characters and the last two).
var fullNumber = regexp.MustCompile(`\+[0-9]{10,15}`)

func within(at, now time.Time, d time.Duration) bool {
	return !at.IsZero() && !at.After(now.Add(d))
}

// dumpKey renders a key's value as text, whatever its type.
func dumpKey(t *testing.T, rdb redis.UniversalClient, k string) string {
	t.Helper()
	ctx := context.Background()
	typ, err := rdb.Type(ctx, k).Result()
	if err != nil {
		t.Fatal(err)
	}
	var v any
	switch typ {
	case "string":
		v, err = rdb.Get(ctx, k).Result()
	case "hash":
		v, err = rdb.HGetAll(ctx, k).Result()
	case "list":
		v, err = rdb.LRange(ctx, k, 0, -1).Result()
	case "set":
		v, err = rdb.SMembers(ctx, k).Result()
	case "zset":
		v, err = rdb.ZRange(ctx, k, 0, -1).Result()
	case "stream":
		v, err = rdb.XRange(ctx, k, "-", "+").Result()
	}
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(v)
}

// TestRedactionCommandCost measures what redaction adds to the step that
// settles an SMS (redactSettled, run by every move to a settled status):
// one HGET for a message not to redact, and the removal itself (HMGET of
// its counts, HDEL, HSET) for one to redact.
func TestRedactionCommandCost(t *testing.T) {
	r := testenv.NewRedis(t)
	rdb := r.Client(t)
	now := time.Now()
	st := New(rdb, 24*time.Hour, WithClock(func() time.Time { return now }))
	ctx := context.Background()
	if err := st.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	mon := newMonitor(t, r, rdb)
	settle := func(code string, redact bool) []string {
		t.Helper()
		m := &Message{App: privApp, Code: code, Type: sms.Transactional, Content: `"hi"`, SendAt: now, Validity: time.Hour, Direct: true, ChunkSize: 10, Redact: redact}
		if _, _, err := st.CreateMessage(ctx, m, []Audience{{Zone: "UTC", SendAt: now, Phones: []string{"+4915190000077"}}}); err != nil {
			t.Fatal(err)
		}
		id := MustSMSID(t, st, code, "+4915190000077")
		mon.sync(t)
		if _, err := st.MarkExpired(ctx, id, "late"); err != nil {
			t.Fatal(err)
		}
		var cmds []string
		for _, l := range mon.sync(t) {
			if args, fromLua := parseMonitorLine(l); fromLua && len(args) > 0 {
				cmds = append(cmds, strings.ToLower(args[0]))
			}
		}
		return cmds
	}
	plain := settle("COST-00000000-00000001", false)
	redacted := settle("COST-00000000-00000002", true)
	t.Logf("settle, not to redact: %d commands: %s", len(plain), strings.Join(plain, " "))
	t.Logf("settle, to redact: %d commands: %s", len(redacted), strings.Join(redacted, " "))
	if len(redacted)-len(plain) != 3 {
		t.Errorf("redacting costs %d commands more than not, want 3 (HMGET, HDEL, HSET)", len(redacted)-len(plain))
	}
	if n := strings.Count(strings.Join(plain, " "), "hget"); n < 2 {
		t.Errorf("a settle ran %d HGETs, want the status's and redactSettled's", n)
	}
}
