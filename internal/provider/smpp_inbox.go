package provider

import (
	"context"
	"errors"
	"hash/fnv"
	"sync"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/metrics"
)

// What arrives on the connection (deliver_sm and data_sm: receipts and
// MO) is acknowledged only once it has landed.
//
// gosmpp's OnPDU answers every request before the handler runs, so a
// process that stopped between the answer and the landing lost what it
// had acknowledged. The client therefore takes every PDU itself
// (gosmpp's OnAllPDU, onAllPDU below) and answers what gosmpp would have
// answered (enquire_link, unbind and the rest) the same way, except
// deliver_sm and data_sm: those go to an inbox of a few workers that land
// each (OnReceipt, OnReply, the long-MO parts store) within LandTimeout
// and only then write the deliver_sm_resp: ESME_ROK once landed,
// ESME_RX_T_APPN (temporary application error, so the SMSC delivers it
// again) when landing failed or did not finish in time, a permanent
// refusal for what can never be landed. The session's reader never waits
// for a landing: a slow Kafka does not hold up the submit_sm_resp behind
// it.
//
// Workers are picked by the PDU's source address, so one phone's messages
// (the parts of one long MO, a STOP then a START) are handled in the
// order they came. A full inbox answers ESME_RX_T_APPN at once rather
// than block the reader. An answer is written only on the session that
// carried the request: after a rebind its sequence number means nothing,
// and the SMSC delivers again what was never answered.

// Command statuses the client answers deliver_sm and data_sm with.
const (
	// statusRetry asks the SMSC to deliver again later: the message is
	// not landed (Kafka or Redis down or slow, the inbox full, the client
	// closing).
	statusRetry = data.ESME_RX_T_APPN
	// statusRefused is a message that can never be landed (unreadable, no
	// sender): the SMSC should not deliver it again.
	statusRefused = data.ESME_RX_P_APPN
	// statusBadUDH is a deliver_sm whose user data header does not fit
	// its short_message (smpp_udh_guard.go).
	statusBadUDH = data.ESME_RINVMSGLEN
)

// ErrUnlandable, wrapped in an error from OnReply or OnReceipt, says the
// message can never be landed (the fleet cannot read it): it is refused
// with a permanent status instead of delivered again.
var ErrUnlandable = errors.New("message can never be landed")

// Inbox defaults.
const (
	inboxWorkers = 4
	inboxDepth   = 64 // per worker
)

// inboxJob is a deliver_sm or data_sm waiting for its worker, with the
// session generation (SMPP.lost) it came on.
type inboxJob struct {
	p   pdu.PDU
	gen uint64
}

// inbox is the workers' queues.
type inbox struct {
	queues []chan inboxJob
	wg     sync.WaitGroup
}

func newInbox() *inbox {
	in := &inbox{queues: make([]chan inboxJob, inboxWorkers)}
	for i := range in.queues {
		in.queues[i] = make(chan inboxJob, inboxDepth)
	}
	return in
}

// queueOf picks the worker of a PDU by its source address.
func (in *inbox) queueOf(p pdu.PDU) chan inboxJob {
	var src string
	switch pp := p.(type) {
	case *pdu.DeliverSM:
		src = pp.SourceAddr.Address()
	case *pdu.DataSM:
		src = pp.SourceAddr.Address()
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(src))
	return in.queues[h.Sum32()%uint32(len(in.queues))]
}

// onAllPDU is gosmpp's OnAllPDU: it sees every PDU the SMSC sends and
// returns the answer gosmpp writes (nil: none, or one written later) and
// whether to close the bind.
func (s *SMPP) onAllPDU(p pdu.PDU) (pdu.PDU, bool) {
	switch pp := p.(type) {
	case *pdu.EnquireLink:
		return pp.GetResponse(), false
	case *pdu.Unbind:
		// As gosmpp does: answer, then close (gosmpp waits for the answer
		// to be written).
		return pp.GetResponse(), true
	case *pdu.DeliverSM, *pdu.DataSM:
		if st, ok := s.takeBadUDH(p); ok {
			return withStatus(p.GetResponse(), st), false
		}
		return s.enqueue(p), false
	}
	s.onPDU(p, false)
	if p.CanResponse() {
		// Any other request (an alert_notification has no answer; a
		// query or a submit from the SMSC we do not serve) is answered
		// as gosmpp would.
		return p.GetResponse(), false
	}
	return nil, false
}

// enqueue hands a deliver_sm or data_sm to its worker; it answers at once
// only when it cannot.
func (s *SMPP) enqueue(p pdu.PDU) pdu.PDU {
	s.mu.Lock()
	gen := s.lost
	s.mu.Unlock()
	if s.closed() {
		return withStatus(p.GetResponse(), statusRetry)
	}
	select {
	case s.inbox.queueOf(p) <- inboxJob{p: p, gen: gen}:
		return nil
	default:
		metrics.SMPPMO.WithLabelValues(s.cfg.Name, "inbox_full").Inc()
		s.log.Warn("smpp inbox full: deliver_sm answered with a temporary error, the SMSC delivers it again")
		return withStatus(p.GetResponse(), statusRetry)
	}
}

// runInbox runs the workers until the client is closed; then each answers
// what is still queued with statusRetry (the SMSC delivers it again) and
// returns. Close waits for them before it unbinds, so the answers of
// landed messages are written.
func (s *SMPP) runInbox() {
	for _, q := range s.inbox.queues {
		s.inbox.wg.Add(1)
		go func(q chan inboxJob) {
			defer s.inbox.wg.Done()
			for {
				select {
				case j := <-q:
					s.answer(j, s.handle(j.p))
				case <-s.done:
					for {
						select {
						case j := <-q:
							s.answer(j, statusRetry)
						default:
							return
						}
					}
				}
			}
		}(q)
	}
}

// handle lands a deliver_sm or data_sm within LandTimeout and returns the
// status to answer it with.
func (s *SMPP) handle(p pdu.PDU) data.CommandStatusType {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.LandTimeout)
	defer cancel()
	switch pp := p.(type) {
	case *pdu.DeliverSM:
		return s.onDeliverSM(ctx, pp)
	case *pdu.DataSM:
		return s.onDataSM(ctx, pp)
	}
	return data.ESME_ROK
}

// answer writes j's answer, on the session that carried it only.
func (s *SMPP) answer(j inboxJob, st data.CommandStatusType) {
	s.mu.Lock()
	same := s.lost == j.gen
	s.mu.Unlock()
	sess := s.sess.Load()
	if !same || sess == nil {
		s.log.Debug("smpp session changed before the answer: the SMSC delivers again", zap.Int32("seq", j.p.GetSequenceNumber()))
		return
	}
	if err := sess.Transceiver().Submit(withStatus(j.p.GetResponse(), st)); err != nil {
		s.log.Debug("smpp answer not written: the SMSC delivers again", zap.Error(err))
	}
}

// withStatus sets a deliver_sm_resp's or data_sm_resp's command_status.
func withStatus(resp pdu.PDU, st data.CommandStatusType) pdu.PDU {
	switch r := resp.(type) {
	case *pdu.DeliverSMResp:
		r.CommandStatus = st
	case *pdu.DataSMResp:
		r.CommandStatus = st
	}
	return resp
}

// landStatus is the answer to a message whose landing returned err.
func landStatus(err error) data.CommandStatusType {
	switch {
	case err == nil:
		return data.ESME_ROK
	case errors.Is(err, ErrUnlandable):
		return statusRefused
	}
	return statusRetry
}
