package provider

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// lander is an OnReply/OnReceipt whose first fail calls fail (or, with
// block, wait for their deadline) and whose later calls land.
type lander struct {
	fail    int
	block   bool
	refuse  bool
	calls   atomic.Int32
	mu      sync.Mutex
	replies []Reply
	recs    []sms.Receipt
}

func (l *lander) land(ctx context.Context) error {
	n := int(l.calls.Add(1))
	switch {
	case l.refuse:
		return fmt.Errorf("no such number: %w", ErrUnlandable)
	case n <= l.fail && l.block:
		<-ctx.Done() // Kafka hangs: the landing's deadline ends it
		return ctx.Err()
	case n <= l.fail:
		return errors.New("kafka: leader not available")
	}
	return nil
}

func (l *lander) reply(ctx context.Context, _ string, r Reply) error {
	if err := l.land(ctx); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.replies = append(l.replies, r)
	return nil
}

func (l *lander) receipt(ctx context.Context, r sms.Receipt) error {
	if err := l.land(ctx); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r)
	return nil
}

func (l *lander) landed() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.replies) + len(l.recs)
}

// TestSMPPAnswersOnlyOnceLanded: a deliver_sm (a reply or a receipt) is
// answered ESME_ROK only once OnReply/OnReceipt landed it; a landing that
// fails or hangs is answered ESME_RX_T_APPN, the SMSC delivers it again,
// and it lands once. One that can never land is refused for good.
func TestSMPPAnswersOnlyOnceLanded(t *testing.T) {
	t.Parallel()
	const retry, refused = 0x64, 0x65
	receipt := testenv.MO{SrcTON: 1, SrcNPI: 1, Src: "4915112345678", Dst: "SMSFleet", EsmClass: 0x04,
		SM: []byte("id:MSG000001 sub:001 dlvrd:001 submit date:2601011200 done date:2601011201 stat:DELIVRD err:000 text:")}
	reply := testenv.MO{SrcTON: 1, SrcNPI: 1, Src: "4915112345678", Dst: "4930123456", SM: []byte("STOP")}
	for _, tc := range []struct {
		name   string
		mo     testenv.MO
		l      *lander
		want   []uint32
		landed int
	}{
		{"reply landed at once", reply, &lander{}, []uint32{0}, 1},
		{"reply: Kafka fails twice", reply, &lander{fail: 2}, []uint32{retry, retry, 0}, 1},
		{"reply: Kafka hangs past the landing timeout", reply, &lander{fail: 1, block: true}, []uint32{retry, 0}, 1},
		{"reply that can never land", reply, &lander{refuse: true}, []uint32{refused}, 0},
		{"receipt: Kafka fails once", receipt, &lander{fail: 1}, []uint32{retry, 0}, 1},
		{"receipt: Kafka hangs", receipt, &lander{fail: 1, block: true}, []uint32{retry, 0}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			smsc := testenv.NewSMSC(t)
			smsc.Redeliver = true
			smsc.Start()
			c := newTestSMPP(t, smsc.Addr(), func(c *SMPPConfig) {
				c.Name = "smsc-land"
				c.LandTimeout = 100 * time.Millisecond
				c.OnReply, c.OnReceipt = tc.l.reply, tc.l.receipt
			})
			talk(t, smsc, c)
			got := smsc.Settled(t, smsc.DeliverMO(t, tc.mo))
			if !slices.Equal(got, tc.want) {
				t.Errorf("answers %#x, want %#x", got, tc.want)
			}
			if n := tc.l.landed(); n != tc.landed {
				t.Errorf("landed %d times, want %d", n, tc.landed)
			}
			if !c.Bound() {
				t.Error("session dropped")
			}
		})
	}
}

// moStore adapts the store's parts to MOPartStore, as the fleet does
// (internal/fleet/connlanding.go).
type moStore struct{ st *store.Store }

func (m moStore) key(k MOPartKey) store.MOKey {
	return store.MOKey{Provider: k.Provider, From: k.From, To: k.To, Ref: k.Ref, Ref16: k.Ref16}
}

func (m moStore) AddMOPart(ctx context.Context, k MOPartKey, seq, total int, coding string, d []byte, ttl, lease time.Duration) (string, [][]byte, error) {
	res, err := m.st.AddMOPart(ctx, store.MOPart{MOKey: m.key(k), Seq: seq, Total: total, Coding: coding, Data: d, TTL: ttl, Lease: lease})
	return string(res.State), res.Parts, err
}

func (m moStore) FinishMO(ctx context.Context, k MOPartKey, ttl time.Duration) error {
	return m.st.FinishMO(ctx, m.key(k), ttl)
}

func (m moStore) ReleaseMO(ctx context.Context, k MOPartKey) error {
	return m.st.ReleaseMO(ctx, m.key(k))
}

// TestSMPPLongMOStraddlesARestart: the parts of a long MO are held in
// Redis, each acknowledged once stored, so a part acknowledged by a
// process that then stops is not lost: the next process completes the
// message, which arrives whole, once. Copies of parts (the SMSC's
// redeliveries) add nothing, and a whole whose landing failed is landed
// when the SMSC delivers its last part again.
func TestSMPPLongMOStraddlesARestart(t *testing.T) {
	t.Parallel()
	rdb := testenv.NewRedis(t).Client(t)
	parts := moStore{store.New(rdb, time.Hour)}
	smsc := testenv.NewSMSC(t)
	smsc.Redeliver = true
	smsc.Start()
	l := &lander{fail: 1} // the first landing of the whole fails
	client := func() *SMPP {
		c := newTestSMPP(t, smsc.Addr(), func(c *SMPPConfig) {
			c.Name = "smsc-restart"
			c.MOParts = parts
			c.OnReply = l.reply
		})
		talk(t, smsc, c)
		return c
	}
	udh := func(seq byte) []byte { return []byte{5, 0x00, 3, 42, 2, seq} }
	part := func(seq byte, text string) testenv.MO {
		return testenv.MO{SrcTON: 1, SrcNPI: 1, Src: "4915112345678", Dst: "4930123456", EsmClass: 0x40, SM: append(udh(seq), text...)}
	}

	first := client()
	if got := smsc.Settled(t, smsc.DeliverMO(t, part(1, "STOP sending "))); !slices.Equal(got, []uint32{0}) {
		t.Fatalf("part 1 answered %#x, want ESME_ROK once stored", got)
	}
	if err := first.Close(); err != nil { // the worker restarts
		t.Fatal(err)
	}
	client()
	// Part 2 comes to the new process; the first landing of the whole
	// fails, and the SMSC delivers part 2 again.
	if got := smsc.Settled(t, smsc.DeliverMO(t, part(2, "me offers"))); !slices.Equal(got, []uint32{0x64, 0}) {
		t.Fatalf("part 2 answered %#x, want a retry then ESME_ROK", got)
	}
	// Copies of both parts after the whole was handed on (an SMSC that
	// did not trust an answer).
	for _, seq := range []byte{2, 1} {
		if got := smsc.Settled(t, smsc.DeliverMO(t, part(seq, "x"))); !slices.Equal(got, []uint32{0}) {
			t.Fatalf("late copy of part %d answered %#x", seq, got)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	want := Reply{From: "+4915112345678", To: "4930123456", Text: "STOP sending me offers"}
	if len(l.replies) != 1 || l.replies[0] != want {
		t.Fatalf("replies %+v, want once %+v", l.replies, want)
	}
}

// TestSMPPMalformedUDHKeepsTheSession: a deliver_sm whose user data header
// does not fit is refused with ESME_RINVMSGLEN, counted, and the session
// stays up: the next MO arrives on it.
func TestSMPPMalformedUDHKeepsTheSession(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		sm   []byte
	}{
		{"UDH length beyond the data", []byte{9, 0x00, 3, 1, 2, 1, 'h', 'i'}},
		{"UDH length 0", []byte{0, 'h', 'i'}},
		{"an element overruns the header", []byte{3, 0x00, 7, 1, 'h', 'i'}},
		{"a lone length octet", []byte{5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			smsc := testenv.NewSMSC(t).Start()
			name := "smsc-udh-" + fmt.Sprint(len(tc.sm)) + "-" + fmt.Sprint(tc.sm[0])
			c, replies, _ := replyClient(t, smsc, name, nil)
			before := moCount(name, "malformed_udh")
			bad := testenv.MO{SrcTON: 1, SrcNPI: 1, Src: "4915112345678", Dst: "12345", EsmClass: 0x40, SM: tc.sm}
			if st := smsc.Answered(t, smsc.DeliverMO(t, bad)); st != uint32(data.ESME_RINVMSGLEN) {
				t.Fatalf("answered %#x, want ESME_RINVMSGLEN", st)
			}
			if got := moCount(name, "malformed_udh") - before; got != 1 {
				t.Errorf("malformed_udh counted %v, want 1", got)
			}
			noReply(t, replies)
			good := testenv.MO{SrcTON: 1, SrcNPI: 1, Src: "4915112345678", Dst: "12345", SM: []byte("START")}
			if st := smsc.Answered(t, smsc.DeliverMO(t, good)); st != 0 {
				t.Fatalf("next MO answered %#x", st)
			}
			if r := nextReply(t, replies); r.Text != "START" {
				t.Errorf("next reply %+v", r)
			}
			c.mu.Lock()
			lost := c.lost
			c.mu.Unlock()
			if lost != 0 {
				t.Errorf("session lost %d times", lost)
			}
		})
	}
}

// TestSMPPOnAllPDU: what gosmpp answered itself before is answered the
// same way; deliver_sm waits for its worker.
func TestSMPPOnAllPDU(t *testing.T) {
	t.Parallel()
	c, err := NewSMPP(SMPPConfig{Name: "smsc-allpdu", Addr: "127.0.0.1:1", SystemID: "x"})
	if err != nil {
		t.Fatal(err)
	}
	deliver := pdu.NewDeliverSM().(*pdu.DeliverSM)
	for _, tc := range []struct {
		name  string
		p     pdu.PDU
		resp  any // the answer's type, nil for none
		close bool
	}{
		{"enquire_link", pdu.NewEnquireLink(), &pdu.EnquireLinkResp{}, false},
		{"unbind", pdu.NewUnbind(), &pdu.UnbindResp{}, true},
		{"enquire_link_resp", pdu.NewEnquireLinkResp(), nil, false},
		{"submit_sm_resp", pdu.NewSubmitSMResp(), nil, false},
		{"generic_nack", pdu.NewGenericNack(), nil, false},
		{"deliver_sm: answered by its worker", deliver, nil, false},
	} {
		resp, closeBind := c.onAllPDU(tc.p)
		if closeBind != tc.close {
			t.Errorf("%s: close %v, want %v", tc.name, closeBind, tc.close)
		}
		if fmt.Sprintf("%T", resp) != fmt.Sprintf("%T", tc.resp) {
			t.Errorf("%s: answer %T, want %T", tc.name, resp, tc.resp)
		}
		if resp != nil && resp.GetSequenceNumber() != tc.p.GetSequenceNumber() {
			t.Errorf("%s: answer to sequence %d, want %d", tc.name, resp.GetSequenceNumber(), tc.p.GetSequenceNumber())
		}
	}
	// A full inbox answers at once with a temporary error.
	var answered pdu.PDU
	for range inboxWorkers*inboxDepth + 1 {
		answered, _ = c.onAllPDU(deliver)
	}
	if r, ok := answered.(*pdu.DeliverSMResp); !ok || r.CommandStatus != data.ESME_RX_T_APPN {
		t.Errorf("full inbox answered %#v, want ESME_RX_T_APPN", answered)
	}
}

// TestSMPPAnswerOnlyOnItsSession: the session drops while a reply is
// being landed (the landing then fails): nothing is answered on the new
// session for the old one's sequence number, and the SMSC's redelivery
// after the rebind lands it, once.
func TestSMPPAnswerOnlyOnItsSession(t *testing.T) {
	t.Parallel()
	smsc := testenv.NewSMSC(t).Start()
	entered, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	var landed []Reply
	var mu sync.Mutex
	c := newTestSMPP(t, smsc.Addr(), func(c *SMPPConfig) {
		c.Name = "smsc-session"
		c.LandTimeout = 5 * time.Second
		c.OnReply = func(ctx context.Context, _ string, r Reply) error {
			if calls.Add(1) == 1 {
				close(entered)
				select { // either way the first landing fails
				case <-release:
				case <-ctx.Done():
				}
				return errors.New("kafka: not enough replicas")
			}
			mu.Lock()
			defer mu.Unlock()
			landed = append(landed, r)
			return nil
		}
	})
	talk(t, smsc, c)
	smsc.DeliverMO(t, testenv.MO{SrcTON: 1, SrcNPI: 1, Src: "4915112345678", Dst: "4930123456", SM: []byte("STOP")})
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the reply never reached OnReply")
	}
	smsc.CloseConns() // the network drops the session mid-landing
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Lost (it may be bound again already: the rebind is quick).
	harnessWait(t, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.lost > 0 })
	if err := c.WaitBound(ctx); err != nil {
		t.Fatal(err)
	}
	close(release)
	talk(t, smsc, c)
	if n := smsc.Unanswered(); n != 1 {
		t.Fatalf("%d deliveries unanswered, want the one whose session dropped", n)
	}
	if n := smsc.RedeliverUnanswered(t); n != 1 {
		t.Fatalf("redelivered %d", n)
	}
	harnessWait(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(landed) == 1 })
	if n := smsc.Unanswered(); n != 0 {
		t.Errorf("%d deliveries unanswered after the redelivery", n)
	}
}

// harnessWait waits until cond holds, failing after 10s.
func harnessWait(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
