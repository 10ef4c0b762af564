package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fiorix/go-smpp/smpp/pdu/pdutlv"
	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/smsfleet/smsfleet/internal/metrics"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

func ucs2(s string) []byte {
	var b []byte
	for _, u := range utf16Encode(s) {
		b = append(b, byte(u>>8), byte(u))
	}
	return b
}

func utf16Encode(s string) []uint16 {
	var out []uint16
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			out = append(out, uint16(0xD800+(r>>10)), uint16(0xDC00+(r&0x3FF)))
			continue
		}
		out = append(out, uint16(r))
	}
	return out
}

func TestDecodeMO(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		coding byte
		known  bool
		ud     []byte
		want   string
		bad    bool
	}{
		{"gsm7 with @ and an escape", 0x00, true, []byte{'S', 'T', 'O', 'P', ' ', 0x00, ' ', 0x1B, 0x65}, "STOP @ €", false},
		{"gsm7 message class", 0xF1, false, []byte("Help"), "Help", false},
		{"ia5", 0x01, true, []byte("START"), "START", false},
		{"latin-1", 0x03, true, []byte{'c', 'a', 'f', 0xE9}, "café", false},
		{"ucs-2 with a surrogate pair", 0x08, true, ucs2("Стоп 👋"), "Стоп 👋", false},
		{"empty", 0x00, true, nil, "", false},
		{"gsm7 octet above 0x7f", 0x00, true, []byte{'S', 0x80}, "", true},
		{"ia5 octet above 0x7f", 0x01, true, []byte{'S', 0xC3}, "", true},
		{"ucs-2 odd length", 0x08, true, []byte{0x00, 'S', 0x00}, "", true},
		{"ucs-2 lone high surrogate", 0x08, true, []byte{0xD8, 0x3D, 0x00, 'S'}, "", true},
		{"ucs-2 lone low surrogate", 0x08, true, []byte{0xDC, 0x00}, "", true},
		{"8-bit binary", 0x04, true, []byte{0x01, 0x02}, "", true},
		{"8-bit binary class", 0xF5, false, []byte("x"), "", true},
		{"coding gosmpp does not know", 0x00, false, []byte("x"), "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeMO(tc.coding, tc.known, tc.ud)
			if tc.bad {
				if err == nil || !errors.Is(err, errEncoding) {
					t.Fatalf("decodeMO = %q, %v; want a bad-encoding error", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("decodeMO = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestMOAddress(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ton  byte
		addr string
		want string
	}{
		{1, "4915112345678", "+4915112345678"},
		{1, "+4915112345678", "+4915112345678"},
		{5, "SMSFleet", "SMSFleet"},
		{2, "015112345678", "015112345678"}, // national: the SMSC's country is unknown here
		{3, "12345", "12345"},               // short code
		{0, "4915112345678", "4915112345678"},
		{1, "49 151", "49 151"}, // not digits: kept as sent
		{1, "", ""},
	} {
		a := pdu.NewAddressWithTonNpi(tc.ton, 1)
		_ = a.SetAddress(tc.addr)
		if got := moAddress(a); got != tc.want {
			t.Errorf("moAddress(TON %d %q) = %q, want %q", tc.ton, tc.addr, got, tc.want)
		}
	}
}

// dropCounter counts the assembler's drops.
type dropCounter struct {
	mu sync.Mutex
	n  map[moResult]int
}

func (d *dropCounter) drop(r moResult) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.n == nil {
		d.n = map[moResult]int{}
	}
	d.n[r]++
}

func (d *dropCounter) get(r moResult) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n[r]
}

func TestMOAssembler(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	part := func(from string, ref uint16, ref16 bool, total, seq int, text string) moPart {
		return moPart{from: from, to: "12345", known: true, ref: ref, ref16: ref16, total: total, seq: seq, text: []byte(text)}
	}
	type step struct {
		p    moPart
		at   time.Duration // after t0
		want moResult
		text string // with moComplete
	}
	for _, tc := range []struct {
		name  string
		cfg   MOConfig
		steps []step
		drops map[moResult]int
		left  int // sets still pending at the end
	}{
		{"in order", MOConfig{}, []step{
			{part("+1", 7, false, 3, 1, "a"), 0, moWaiting, ""},
			{part("+1", 7, false, 3, 2, "b"), 0, moWaiting, ""},
			{part("+1", 7, false, 3, 3, "c"), 0, moComplete, "abc"},
		}, nil, 0},
		{"out of order with a duplicate", MOConfig{}, []step{
			{part("+1", 7, false, 3, 3, "c"), 0, moWaiting, ""},
			{part("+1", 7, false, 3, 1, "a"), 0, moWaiting, ""},
			{part("+1", 7, false, 3, 1, "A"), 0, moDuplicate, ""},
			{part("+1", 7, false, 3, 2, "b"), 0, moComplete, "abc"},
		}, nil, 0},
		{"senders and reference widths kept apart", MOConfig{}, []step{
			{part("+1", 7, false, 2, 1, "a"), 0, moWaiting, ""},
			{part("+2", 7, false, 2, 2, "Y"), 0, moWaiting, ""},
			{part("+1", 7, true, 2, 2, "Z"), 0, moWaiting, ""},
			{part("+1", 7, false, 2, 2, "b"), 0, moComplete, "ab"},
		}, nil, 2},
		{"timeout drops an incomplete message", MOConfig{Timeout: time.Minute}, []step{
			{part("+1", 7, false, 2, 1, "a"), 0, moWaiting, ""},
			{part("+1", 8, false, 2, 1, "x"), 30 * time.Second, moWaiting, ""},
			// A minute after the first part of ref 7: it is dropped before
			// its second part is filed, which then starts a new message.
			{part("+1", 7, false, 2, 2, "b"), time.Minute, moWaiting, ""},
			{part("+1", 8, false, 2, 2, "y"), time.Minute, moComplete, "xy"},
		}, map[moResult]int{moIncomplete: 1}, 1},
		{"too many parts", MOConfig{MaxParts: 4}, []step{
			{part("+1", 7, false, 5, 1, "a"), 0, moTooManyParts, ""},
			{part("+1", 7, false, 4, 4, "d"), 0, moWaiting, ""},
		}, nil, 1},
		{"the oldest is evicted beyond MaxPending", MOConfig{MaxPending: 2}, []step{
			{part("+1", 1, false, 2, 1, "a"), 0, moWaiting, ""},
			{part("+1", 2, false, 2, 1, "b"), time.Second, moWaiting, ""},
			{part("+1", 3, false, 2, 1, "c"), 2 * time.Second, moWaiting, ""},
			{part("+1", 2, false, 2, 2, "B"), 3 * time.Second, moComplete, "bB"},
			{part("+1", 1, false, 2, 2, "A"), 3 * time.Second, moWaiting, ""},
		}, map[moResult]int{moEvicted: 1}, 2},
		{"a reused reference replaces the old message", MOConfig{}, []step{
			{part("+1", 7, false, 3, 1, "a"), 0, moWaiting, ""},
			{part("+1", 7, false, 2, 1, "x"), 0, moWaiting, ""},
			{part("+1", 7, false, 2, 2, "y"), 0, moComplete, "xy"},
		}, map[moResult]int{moIncomplete: 1}, 0},
		{"parts in different codings", MOConfig{}, []step{
			{part("+1", 7, false, 2, 1, "a"), 0, moWaiting, ""},
			{moPart{from: "+1", to: "12345", known: true, coding: 8, ref: 7, total: 2, seq: 2, text: []byte{0, 'b'}}, 0, moCodingMismatch, ""},
		}, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d dropCounter
			a := newMOAssembler(tc.cfg, d.drop)
			for i, s := range tc.steps {
				whole, res, _ := a.add(context.Background(), s.p, t0.Add(s.at))
				if res != s.want {
					t.Fatalf("step %d: %v, want %v", i+1, res, s.want)
				}
				if res == moComplete {
					if string(whole.text) != s.text || whole.from != s.p.from || whole.to != s.p.to {
						t.Fatalf("step %d: whole %+v, want text %q", i+1, whole, s.text)
					}
					_ = a.handedOn(context.Background(), s.p)
				}
			}
			for _, r := range []moResult{moIncomplete, moEvicted} {
				if got := d.get(r); got != tc.drops[r] {
					t.Errorf("%v drops: %d, want %d", r, got, tc.drops[r])
				}
			}
			if got := a.pending(); got != tc.left {
				t.Errorf("%d pending, want %d", got, tc.left)
			}
		})
	}
}

// replyClient binds a client whose MO arrive on a channel, logging into
// an observer.
func replyClient(t *testing.T, smsc *testenv.SMSC, name string, edit func(*SMPPConfig)) (*SMPP, chan Reply, *observer.ObservedLogs) {
	t.Helper()
	ch := make(chan Reply, 16)
	core, logs := observer.New(zap.DebugLevel)
	c := newTestSMPP(t, smsc.Addr(), func(c *SMPPConfig) {
		c.Name = name
		c.Logger = zap.New(core)
		c.OnReply = func(_ context.Context, provider string, r Reply) error {
			if provider != name {
				t.Errorf("OnReply for provider %q, want %q", provider, name)
			}
			ch <- r
			return nil
		}
		if edit != nil {
			edit(c)
		}
	})
	talk(t, smsc, c)
	return c, ch, logs
}

// talk sends one SMS through c, so the test SMSC knows the connection to
// deliver on.
func talk(t *testing.T, smsc *testenv.SMSC, c *SMPP) {
	t.Helper()
	mustSend(t, c, Request{To: "+4915112345678", Text: "hello"})
	smsc.Next(t)
}

func noReply(t *testing.T, ch chan Reply) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("unexpected reply %+v", r)
	default:
	}
}

func nextReply(t *testing.T, ch chan Reply) Reply {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(2 * time.Second):
		t.Fatal("no reply reached OnReply")
		return Reply{}
	}
}

func moCount(provider, result string) float64 {
	return testutil.ToFloat64(metrics.SMPPMO.WithLabelValues(provider, result))
}

func TestSMPPMO(t *testing.T) {
	t.Parallel()
	smsc := testenv.NewSMSC(t).Start()
	_, replies, logs := replyClient(t, smsc, "smsc-mo", nil)
	from := "4915112345678"
	send := func(m testenv.MO) {
		t.Helper()
		if m.Src == "" {
			m.SrcTON, m.SrcNPI, m.Src = 1, 1, from
		}
		if m.Dst == "" {
			m.Dst = "4930123456"
		}
		// Every MO is answered, whatever we make of it.
		smsc.Answered(t, smsc.DeliverMO(t, m))
	}
	want := func(text string) {
		t.Helper()
		r := nextReply(t, replies)
		if r != (Reply{From: "+" + from, To: "4930123456", Text: text}) {
			t.Errorf("reply %+v, want text %q from +%s", r, text, from)
		}
	}

	// One part, GSM 7-bit.
	send(testenv.MO{SM: []byte("STOP")})
	want("STOP")
	// UCS-2.
	send(testenv.MO{DataCoding: 8, SM: ucs2("Нет, спасибо 🙏")})
	want("Нет, спасибо 🙏")

	// Long, 8-bit UDH reference, out of order, a part twice: the
	// concatenated user data is decoded once, so the € whose escape ends
	// part 1 survives.
	udh8 := func(ref, total, seq byte) []byte { return []byte{5, 0x00, 3, ref, total, seq} }
	send(testenv.MO{EsmClass: 0x40, SM: append(udh8(9, 3, 3), "three"...)})
	send(testenv.MO{EsmClass: 0x40, SM: append(udh8(9, 3, 1), 'o', 'n', 'e', ' ', 0x1B)})
	send(testenv.MO{EsmClass: 0x40, SM: append(udh8(9, 3, 1), 'o', 'n', 'e', ' ', 0x1B)})
	noReply(t, replies)
	send(testenv.MO{EsmClass: 0x40, SM: append(udh8(9, 3, 2), 0x65, ' ', 't', 'w', 'o', ' ')})
	want("one € two three")

	// Long, 16-bit UDH reference, UCS-2 with a surrogate pair cut in two.
	udh16 := func(ref uint16, total, seq byte) []byte {
		return []byte{6, 0x08, 4, byte(ref >> 8), byte(ref), total, seq}
	}
	text := ucs2("ok 👍")
	send(testenv.MO{EsmClass: 0x40, DataCoding: 8, SM: append(udh16(0x1234, 2, 1), text[:6]...)})
	send(testenv.MO{EsmClass: 0x40, DataCoding: 8, SM: append(udh16(0x1234, 2, 2), text[6:]...)})
	want("ok 👍")

	// Long, sar_* TLVs.
	sar := func(ref uint16, total, seq byte) map[pdutlv.Tag][]byte {
		return map[pdutlv.Tag][]byte{0x020C: {byte(ref >> 8), byte(ref)}, 0x020E: {total}, 0x020F: {seq}}
	}
	send(testenv.MO{SM: []byte("HE"), TLVs: sar(77, 2, 1)})
	send(testenv.MO{SM: []byte("LP"), TLVs: sar(77, 2, 2)})
	want("HELP")

	// Refused: a bad encoding, binary data, a part numbered beyond its
	// total; none reaches OnReply, each is counted, and the logs hold
	// neither the text nor the full number.
	bad := moCount("smsc-mo", "bad_encoding")
	malformed := moCount("smsc-mo", "malformed")
	send(testenv.MO{SM: []byte{'S', 'T', 'O', 'P', 0xFF}})
	send(testenv.MO{DataCoding: 4, SM: []byte("STOP binary")})
	send(testenv.MO{EsmClass: 0x40, SM: append(udh8(3, 2, 3), "STOP part"...)})
	// An MO after them still arrives: the session is fine.
	send(testenv.MO{SM: []byte("STOP again")})
	want("STOP again")
	if got := moCount("smsc-mo", "bad_encoding") - bad; got != 2 {
		t.Errorf("bad_encoding counted %v, want 2", got)
	}
	if got := moCount("smsc-mo", "malformed") - malformed; got != 1 {
		t.Errorf("malformed counted %v, want 1", got)
	}
	if got := moCount("smsc-mo", "duplicate_part"); got != 1 {
		t.Errorf("duplicate_part counted %v, want 1", got)
	}
	refused := 0
	for _, e := range logs.All() {
		line := e.Message + " " + strings.Join(fieldStrings(e.ContextMap()), " ")
		if strings.Contains(line, "STOP") || strings.Contains(line, from) {
			t.Errorf("log line with the text or the number: %s", line)
		}
		if strings.HasPrefix(e.Message, "smpp MO refused") {
			refused++
			if e.Level != zap.WarnLevel {
				t.Errorf("%q at %v, want warn", e.Message, e.Level)
			}
		}
	}
	if refused != 3 {
		t.Errorf("%d refusals logged, want 3", refused)
	}
}

func fieldStrings(m map[string]any) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+fmt.Sprint(v))
	}
	return out
}

// TestSMPPMOTimeout drives the reassembly timeout with the client's clock:
// a long MO whose last part never comes is dropped and counted, and a part
// coming after that does not complete it.
func TestSMPPMOTimeout(t *testing.T) {
	t.Parallel()
	smsc := testenv.NewSMSC(t).Start()
	clock := testenv.NewClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	c, replies, _ := replyClient(t, smsc, "smsc-mo-timeout", func(c *SMPPConfig) {
		c.Now = clock.Now
		c.MO = MOConfig{Timeout: 5 * time.Minute}
	})
	udh := func(ref, total, seq byte) []byte { return []byte{5, 0x00, 3, ref, total, seq} }
	m := testenv.MO{SrcTON: 1, SrcNPI: 1, Src: "4915112345678", Dst: "12345", EsmClass: 0x40}
	m.SM = append(udh(1, 2, 1), "first "...)
	smsc.Answered(t, smsc.DeliverMO(t, m))
	clock.Advance(5*time.Minute - time.Second)
	c.mo.sweep(clock.Now())
	if c.mo.pending() != 1 {
		t.Fatal("dropped before its timeout")
	}
	clock.Advance(time.Second)
	c.mo.sweep(clock.Now())
	if c.mo.pending() != 0 {
		t.Fatal("not dropped at its timeout")
	}
	if got := moCount("smsc-mo-timeout", "incomplete_dropped"); got != 1 {
		t.Errorf("incomplete_dropped %v, want 1", got)
	}
	m.SM = append(udh(1, 2, 2), "second"...)
	smsc.Answered(t, smsc.DeliverMO(t, m))
	noReply(t, replies)
	if c.mo.pending() != 1 {
		t.Errorf("the late part is not held as a new message")
	}
}

// TestSMPPMODataSM reads MO sent as data_sm (text in message_payload),
// which the test SMSC cannot write: the PDU is gosmpp's, written to bytes
// and parsed back as the session would.
func TestSMPPMODataSM(t *testing.T) {
	t.Parallel()
	c, err := NewSMPP(SMPPConfig{Name: "smsc-datasm", Addr: "127.0.0.1:1", SystemID: "x"})
	if err != nil {
		t.Fatal(err)
	}
	var got []Reply
	c.cfg.OnReply = func(_ context.Context, _ string, r Reply) error { got = append(got, r); return nil }
	dataSM := func(esm, coding byte, payload []byte, tlvs ...pdu.Field) pdu.PDU {
		p := pdu.NewDataSM().(*pdu.DataSM)
		p.SourceAddr = pdu.NewAddressWithTonNpi(1, 1)
		_ = p.SourceAddr.SetAddress("4915112345678")
		p.DestAddr = pdu.NewAddressWithTonNpi(3, 0)
		_ = p.DestAddr.SetAddress("12345")
		p.EsmClass, p.DataCoding = esm, coding
		p.RegisterOptionalParam(pdu.Field{Tag: pdu.TagMessagePayload, Data: payload})
		for _, f := range tlvs {
			p.RegisterOptionalParam(f)
		}
		b := pdu.NewBuffer(nil)
		p.Marshal(b)
		back, err := pdu.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		return back
	}
	c.handle(dataSM(0, data.LATIN1Coding, []byte("Gr\xfc\xdfe")))
	c.handle(dataSM(0x40, 0, append([]byte{5, 0, 3, 4, 2, 2}, "world"...)))
	c.handle(dataSM(0x40, 0, append([]byte{5, 0, 3, 4, 2, 1}, "hello "...)))
	c.handle(dataSM(0, 8, ucs2("a"), pdu.Field{Tag: pdu.TagSarMsgRefNum, Data: []byte{0, 1}},
		pdu.Field{Tag: pdu.TagSarTotalSegments, Data: []byte{2}}, pdu.Field{Tag: pdu.TagSarSegmentSeqnum, Data: []byte{1}}))
	c.handle(dataSM(0, 8, ucs2("b"), pdu.Field{Tag: pdu.TagSarMsgRefNum, Data: []byte{0, 1}},
		pdu.Field{Tag: pdu.TagSarTotalSegments, Data: []byte{2}}, pdu.Field{Tag: pdu.TagSarSegmentSeqnum, Data: []byte{2}}))
	c.handle(dataSM(0, 0x02, []byte{1, 2, 3})) // binary: refused
	want := []Reply{
		{From: "+4915112345678", To: "12345", Text: "Grüße"},
		{From: "+4915112345678", To: "12345", Text: "hello world"},
		{From: "+4915112345678", To: "12345", Text: "ab"},
	}
	if len(got) != len(want) {
		t.Fatalf("replies %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("reply %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if n := moCount("smsc-datasm", "bad_encoding"); n != 1 {
		t.Errorf("bad_encoding %v, want 1", n)
	}
}

// TestSMPPMONoHandler: without OnReply an MO is counted, not lost silently.
func TestSMPPMONoHandler(t *testing.T) {
	t.Parallel()
	smsc := testenv.NewSMSC(t).Start()
	talk(t, smsc, newTestSMPP(t, smsc.Addr(), func(c *SMPPConfig) { c.Name = "smsc-nohandler" }))
	smsc.Answered(t, smsc.Deliver(t, 0, 0, []byte("STOP"), nil))
	if n := moCount("smsc-nohandler", "no_handler"); n != 1 {
		t.Errorf("no_handler %v, want 1", n)
	}
}

// FuzzSMPPMO feeds arbitrary user data, UDH and concatenation TLVs through
// what an MO PDU goes through: it must never panic, a decoded text is
// valid UTF-8, and a part the concatenation fields accept is numbered
// within its total.
func FuzzSMPPMO(f *testing.F) {
	f.Add(byte(0), byte(0x40), []byte{5, 0, 3, 1, 2, 1, 'h', 'i'}, []byte{0, 1}, byte(2), byte(1))
	f.Add(byte(8), byte(0x40), []byte{6, 8, 4, 0x12, 0x34, 2, 2, 0xD8, 0x3D}, []byte{}, byte(0), byte(0))
	f.Add(byte(3), byte(0), []byte("caf\xe9"), []byte{0, 9}, byte(3), byte(4))
	f.Add(byte(0), byte(0x40), []byte{0}, []byte{}, byte(0), byte(0))
	f.Add(byte(0xF1), byte(0x40), []byte{2, 0, 0}, []byte{1}, byte(1), byte(1))
	a := newMOAssembler(MOConfig{MaxPending: 4, MaxParts: 4, Timeout: time.Minute}, func(moResult) {})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, coding, esm byte, ud, ref []byte, total, seq byte) {
		text, udh, err := splitUDH(esm, ud)
		if err != nil {
			return
		}
		tlvs := map[pdu.Tag]pdu.Field{
			pdu.TagSarMsgRefNum:     {Tag: pdu.TagSarMsgRefNum, Data: ref},
			pdu.TagSarTotalSegments: {Tag: pdu.TagSarTotalSegments, Data: []byte{total}},
			pdu.TagSarSegmentSeqnum: {Tag: pdu.TagSarSegmentSeqnum, Data: []byte{seq}},
		}
		part := moPart{from: "+1", to: "2", coding: coding, known: data.FromDataCoding(coding) != nil, text: text}
		if concatInfo(&part, udh, tlvs) == nil && part.total > 1 {
			if part.seq < 1 || part.seq > part.total {
				t.Fatalf("part %d of %d accepted", part.seq, part.total)
			}
			now = now.Add(time.Second)
			if whole, res, _ := a.add(context.Background(), part, now); res == moComplete {
				text = whole.text
				_ = a.handedOn(context.Background(), part)
			}
		}
		if s, err := decodeMO(part.coding, part.known, text); err == nil && !utf8.ValidString(s) {
			t.Fatalf("decoded %q is not UTF-8", s)
		}
	})
}
