package testenv

import (
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fiorix/go-smpp/smpp/pdu"
	"github.com/fiorix/go-smpp/smpp/pdu/pdufield"
	"github.com/fiorix/go-smpp/smpp/pdu/pdutlv"
	"github.com/fiorix/go-smpp/smpp/smpptest"
)

// SMSC is an in-process SMSC for tests: smpptest's server (real SMPP 3.4
// over TCP, with another library's codec than the client's gosmpp) with a
// handler that answers submit_sm like an SMSC, records what it receives,
// and can push deliver_sm (receipts, and MO: replies from phones) to the
// client. The provider tests and the end-to-end tests bind to it.
type SMSC struct {
	srv *smpptest.Server
	// Answer decides the reply to each submit_sm: a command_status and
	// whether to reply at all. Set before Start; nil answers ESME_ROK.
	Answer func(sub Submitted) (status uint32, reply bool)
	// Async answers each submit_sm from its own goroutine after a random
	// pause, so answers overtake each other as on a busy SMSC.
	Async bool
	// ID gives the message_id of the nth accepted submit_sm (from 1); nil
	// gives MSG000001, MSG000002, ... Set before Start.
	ID func(n int64) string
	// Submits receives every submit_sm read, before it is answered.
	Submits chan Submitted
	// Redeliver makes the SMSC deliver a deliver_sm again, at once, when
	// the client answers it with a temporary error (ESME_RX_T_APPN,
	// ESME_RTHROTTLED, ESME_RMSGQFUL, ESME_RSYSERR), as SMSCs do; at most
	// MaxRedeliveries times (0: 20). Set before Start.
	Redeliver       bool
	MaxRedeliveries int

	wmu sync.Mutex // smpptest's Conn writes through an unlocked bufio.Writer

	mu    sync.Mutex
	conns []smpptest.Conn // every connection that sent a PDU after binding

	// Deliveries: every deliver_sm pushed, by sequence number, with its
	// answer; changed is closed and replaced on every answer.
	deliveries map[uint32]*delivery
	changed    chan struct{}

	ids         atomic.Int64
	inflight    atomic.Int64
	maxInflight atomic.Int64
}

// The credentials SMSC accepts (smpptest's).
var (
	SMSCSystemID = smpptest.DefaultUser
	SMSCPassword = smpptest.DefaultPasswd
)

// Submitted is a submit_sm as the SMSC read it, with the message_id it
// gave (when it answered ESME_ROK).
type Submitted struct {
	Seq                               uint32
	Src, Dst                          string
	SrcTON, SrcNPI                    byte
	DstTON, DstNPI                    byte
	EsmClass, DataCoding, RegDelivery byte
	SM                                []byte // short_message as sent: UDH included
	ValidityPeriod                    string
	ID                                string
}

// NewSMSC returns an SMSC, not yet listening (set Answer, Async or ID,
// then Start); it stops at the test's cleanup.
func NewSMSC(tb testing.TB) *SMSC {
	tb.Helper()
	s := &SMSC{
		srv:        smpptest.NewUnstartedServer(),
		Submits:    make(chan Submitted, 1024),
		deliveries: make(map[uint32]*delivery),
		changed:    make(chan struct{}),
	}
	s.srv.Handler = s.handle
	tb.Cleanup(func() {
		s.srv.Close()
		s.CloseConns()
	})
	return s
}

// Start starts listening on a loopback port.
func (s *SMSC) Start() *SMSC { s.srv.Start(); return s }

// Addr is the SMSC's host:port.
func (s *SMSC) Addr() string { return s.srv.Addr() }

// MaxInflight is the most submit_sm that were read and not yet answered at
// once.
func (s *SMSC) MaxInflight() int64 { return s.maxInflight.Load() }

func (s *SMSC) write(c smpptest.Conn, p pdu.Body) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = c.Write(p)
}

func (s *SMSC) handle(c smpptest.Conn, m pdu.Body) {
	s.mu.Lock()
	known := false
	for _, k := range s.conns {
		known = known || k == c
	}
	if !known {
		s.conns = append(s.conns, c)
	}
	s.mu.Unlock()

	switch m.Header().ID {
	case pdu.SubmitSMID:
		f := m.Fields()
		b := func(n pdufield.Name) byte { return f[n].Bytes()[0] }
		sub := Submitted{
			Seq: m.Header().Seq,
			Src: f[pdufield.SourceAddr].String(), Dst: f[pdufield.DestinationAddr].String(),
			SrcTON: b(pdufield.SourceAddrTON), SrcNPI: b(pdufield.SourceAddrNPI),
			DstTON: b(pdufield.DestAddrTON), DstNPI: b(pdufield.DestAddrNPI),
			EsmClass: b(pdufield.ESMClass), DataCoding: b(pdufield.DataCoding), RegDelivery: b(pdufield.RegisteredDelivery),
			SM: f[pdufield.ShortMessage].Bytes(), ValidityPeriod: f[pdufield.ValidityPeriod].String(),
		}
		status, reply := uint32(0), true
		if s.Answer != nil {
			status, reply = s.Answer(sub)
		}
		if status == 0 {
			if n := s.ids.Add(1); s.ID != nil {
				sub.ID = s.ID(n)
			} else {
				sub.ID = fmt.Sprintf("MSG%06d", n)
			}
		}
		// Recorded before the answer, so a test that got its Result
		// finds every part here.
		s.Submits <- sub
		if !reply {
			return
		}
		n := s.inflight.Add(1)
		for max := s.maxInflight.Load(); n > max && !s.maxInflight.CompareAndSwap(max, n); max = s.maxInflight.Load() {
		}
		respond := func() {
			resp := pdu.NewSubmitSMResp()
			resp.Header().Seq = sub.Seq
			resp.Header().Status = pdu.Status(status)
			_ = resp.Fields().Set(pdufield.MessageID, sub.ID)
			s.inflight.Add(-1)
			s.write(c, resp)
		}
		if s.Async {
			go func() {
				time.Sleep(time.Duration(mrand.IntN(300)) * time.Microsecond)
				respond()
			}()
		} else {
			respond()
		}
	case pdu.EnquireLinkID:
		s.write(c, pdu.NewEnquireLinkRespSeq(m.Header().Seq))
	case pdu.UnbindID:
		resp := pdu.NewUnbindResp()
		resp.Header().Seq = m.Header().Seq
		s.write(c, resp)
	case pdu.DeliverSMRespID:
		s.answered(m.Header().Seq, uint32(m.Header().Status))
	}
}

// Deliver pushes a deliver_sm from +4915112345678 to "SMSFleet" to the
// last connection that talked to us and returns its sequence number.
func (s *SMSC) Deliver(tb testing.TB, esm byte, coding byte, text []byte, tlvs map[pdutlv.Tag][]byte) uint32 {
	tb.Helper()
	return s.DeliverMO(tb, MO{SrcTON: 1, SrcNPI: 1, Src: "4915112345678", Dst: "SMSFleet", EsmClass: esm, DataCoding: coding, SM: text, TLVs: tlvs})
}

// MO is a deliver_sm as the SMSC sends it: a receipt or a reply.
type MO struct {
	SrcTON, SrcNPI       byte
	Src, Dst             string
	EsmClass, DataCoding byte
	SM                   []byte // short_message: UDH included when EsmClass has 0x40
	TLVs                 map[pdutlv.Tag][]byte
}

// delivery is one deliver_sm pushed: its MO, the first delivery of the
// same MO (itself when it is the first), and the answer once there.
type delivery struct {
	mo       MO
	first    uint32
	answered bool
	status   uint32
}

// DeliverMO pushes m to the last connection that talked to us (one that
// has sent a PDU since it bound) and returns its sequence number.
func (s *SMSC) DeliverMO(tb testing.TB, m MO) uint32 {
	tb.Helper()
	seq, err := s.push(m, 0)
	if err != nil {
		tb.Fatal(err)
	}
	return seq
}

// push writes m to the last connection; first is the sequence number of
// m's first delivery (0: this is the first).
func (s *SMSC) push(m MO, first uint32) (uint32, error) {
	s.mu.Lock()
	if len(s.conns) == 0 {
		s.mu.Unlock()
		return 0, fmt.Errorf("no client connection to deliver to")
	}
	c := s.conns[len(s.conns)-1]
	p := pdu.NewDeliverSM()
	seq := p.Header().Seq
	if first == 0 {
		first = seq
	}
	s.deliveries[seq] = &delivery{mo: m, first: first}
	s.mu.Unlock()
	f := p.Fields()
	_ = f.Set(pdufield.SourceAddrTON, m.SrcTON)
	_ = f.Set(pdufield.SourceAddrNPI, m.SrcNPI)
	_ = f.Set(pdufield.SourceAddr, m.Src)
	_ = f.Set(pdufield.DestinationAddr, m.Dst)
	_ = f.Set(pdufield.ESMClass, m.EsmClass)
	_ = f.Set(pdufield.DataCoding, m.DataCoding)
	_ = f.Set(pdufield.ShortMessage, m.SM)
	// go-smpp writes deliver_sm's UDH length octet even without UDHI (as
	// a zero), which shifts short_message by one; an empty field writes
	// nothing. short_message goes as given: a test can send a broken UDH.
	_ = f.Set(pdufield.UDHLength, &pdufield.SM{})
	for tag, v := range m.TLVs {
		_ = p.TLVFields().Set(tag, v)
	}
	s.write(c, p)
	return seq, nil
}

// temporary is a deliver_sm_resp status an SMSC delivers again after.
func temporary(status uint32) bool {
	switch status {
	case 0x64, 0x58, 0x14, 0x08: // RX_T_APPN, THROTTLED, MSGQFUL, SYSERR
		return true
	}
	return false
}

// answered records the answer to seq and, with Redeliver, delivers a
// temporarily refused MO again.
func (s *SMSC) answered(seq, status uint32) {
	s.mu.Lock()
	d, ok := s.deliveries[seq]
	if ok {
		d.answered, d.status = true, status
	}
	close(s.changed)
	s.changed = make(chan struct{})
	again := ok && s.Redeliver && temporary(status) && s.attemptsLocked(d.first) <= s.maxRedeliveries()
	s.mu.Unlock()
	if again {
		go func() { _, _ = s.push(d.mo, d.first) }()
	}
}

func (s *SMSC) maxRedeliveries() int {
	if s.MaxRedeliveries > 0 {
		return s.MaxRedeliveries
	}
	return 20
}

// attemptsLocked is how many times the MO first delivered as first was
// delivered.
func (s *SMSC) attemptsLocked(first uint32) int {
	n := 0
	for _, d := range s.deliveries {
		if d.first == first {
			n++
		}
	}
	return n
}

// Answered waits for the client's deliver_sm_resp to seq and returns its
// command_status.
func (s *SMSC) Answered(tb testing.TB, seq uint32) uint32 {
	tb.Helper()
	var status uint32
	s.waitFor(tb, fmt.Sprintf("no deliver_sm_resp for %d", seq), func() bool {
		d, ok := s.deliveries[seq]
		status = d.status
		return ok && d.answered
	})
	return status
}

// Settled waits until the MO first delivered as seq is answered with a
// status the SMSC does not deliver again after (see Redeliver), and
// returns the status of every delivery of it, in order.
func (s *SMSC) Settled(tb testing.TB, seq uint32) []uint32 {
	tb.Helper()
	var statuses []uint32
	s.waitFor(tb, fmt.Sprintf("deliveries of %d not settled", seq), func() bool {
		var seqs []uint32
		for q, d := range s.deliveries {
			if d.first == seq {
				seqs = append(seqs, q)
			}
		}
		slices.Sort(seqs)
		statuses = statuses[:0]
		for _, q := range seqs {
			d := s.deliveries[q]
			if !d.answered {
				return false
			}
			statuses = append(statuses, d.status)
		}
		last := len(statuses) - 1
		return last >= 0 && (!s.Redeliver || !temporary(statuses[last]) || last+1 > s.maxRedeliveries())
	})
	return statuses
}

// Unanswered is how many deliver_sm were pushed and never answered.
func (s *SMSC) Unanswered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, d := range s.deliveries {
		if !d.answered {
			n++
		}
	}
	return n
}

// RedeliverUnanswered delivers again, to the last connection, every MO
// whose latest delivery was never answered (its connection dropped), as
// an SMSC does once the client has bound again; it returns how many.
func (s *SMSC) RedeliverUnanswered(tb testing.TB) int {
	tb.Helper()
	s.mu.Lock()
	var again []*delivery
	for _, d := range s.deliveries {
		if !d.answered {
			d.answered, d.status = true, 0xFFFFFFFF // superseded: never answered
			again = append(again, d)
		}
	}
	s.mu.Unlock()
	for _, d := range again {
		if _, err := s.push(d.mo, d.first); err != nil {
			tb.Fatal(err)
		}
	}
	return len(again)
}

// waitFor waits until ok (called under s.mu) holds; a failing test ends
// after 10s rather than hang.
func (s *SMSC) waitFor(tb testing.TB, what string, ok func() bool) {
	tb.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		done, ch := ok(), s.changed
		s.mu.Unlock()
		if done {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			tb.Fatal(what)
		}
	}
}

// CloseConns drops every client connection (the SMSC keeps listening).
func (s *SMSC) CloseConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		_ = c.Close()
	}
	s.conns = nil
}

// Next is the next submit_sm read.
func (s *SMSC) Next(tb testing.TB) Submitted {
	tb.Helper()
	select {
	case sub := <-s.Submits:
		return sub
	case <-time.After(5 * time.Second):
		tb.Fatal("no submit_sm reached the SMSC")
		return Submitted{}
	}
}
