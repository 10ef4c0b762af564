package provider

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/metrics"
	"github.com/smsfleet/smsfleet/internal/sms"
)

// A deliver_sm whose user data header does not fit (its length octet
// points beyond short_message, or is 0, or an element overruns it) makes
// gosmpp's parser fail, and gosmpp drops the whole session on any parse
// failure: every message in flight on it waits for a rebind, and an SMSC
// that delivers the same PDU again drops it again, forever.
//
// udhGuardConn sits between the socket and gosmpp and reads whole PDUs.
// A deliver_sm with UDHI (esm_class 0x40) that gosmpp cannot parse, but
// could without UDHI, is passed on with UDHI cleared and its sequence
// number noted; onAllPDU then refuses it with ESME_RINVMSGLEN ("invalid
// message length": the header claims more than the message has), logs it
// at warn without text or full number and counts it as
// smsfleet_smpp_mo_total{result="malformed_udh"}. It is refused, not read
// as plain text: its first octets are a broken header, not characters, and
// a text made of them could be anything. The session stays up.
type udhGuardConn struct {
	net.Conn
	s    *SMPP
	buf  []byte // what is left of the current PDU
	raw  bool   // a PDU length we cannot frame: pass bytes through
	head [16]byte
}

func (c *udhGuardConn) Read(b []byte) (int, error) {
	if c.raw {
		return c.Conn.Read(b)
	}
	if len(c.buf) == 0 {
		frame, err := c.next()
		if err != nil {
			return 0, err // a read error ends the session in gosmpp anyway
		}
		c.buf = frame
	}
	n := copy(b, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}

// next reads one PDU and, if it is a deliver_sm with a broken header,
// mends it as described above.
func (c *udhGuardConn) next() ([]byte, error) {
	if _, err := io.ReadFull(c.Conn, c.head[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(c.head[:4])
	if n < 16 || n > data.MAX_PDU_LEN {
		// gosmpp refuses it and drops the session; nothing to frame.
		c.raw = true
		return append([]byte(nil), c.head[:]...), nil
	}
	frame := make([]byte, n)
	copy(frame, c.head[:])
	if _, err := io.ReadFull(c.Conn, frame[16:]); err != nil {
		return nil, err
	}
	if binary.BigEndian.Uint32(frame[4:8]) == uint32(data.DELIVER_SM) {
		c.s.mendUDH(frame)
	}
	return frame, nil
}

// mendUDH clears UDHI in a deliver_sm frame that gosmpp cannot parse
// because of its header, and notes its sequence number.
func (s *SMPP) mendUDH(frame []byte) {
	at, ok := esmClassAt(frame[16:])
	if !ok || frame[16+at]&data.SM_UDH_GSM == 0 {
		return
	}
	if _, err := pdu.Parse(bytes.NewReader(frame)); err == nil {
		return
	}
	frame[16+at] &^= data.SM_UDH_GSM
	if _, err := pdu.Parse(bytes.NewReader(frame)); err != nil {
		frame[16+at] |= data.SM_UDH_GSM // broken elsewhere: as it came
		return
	}
	s.badUDH.Store(int32(binary.BigEndian.Uint32(frame[12:16])), struct{}{})
}

// esmClassAt finds esm_class in a deliver_sm body: after service_type,
// then source and destination, each TON, NPI and a C string.
func esmClassAt(body []byte) (int, bool) {
	i := 0
	cstring := func() bool {
		j := bytes.IndexByte(body[i:], 0)
		if j < 0 {
			return false
		}
		i += j + 1
		return true
	}
	if !cstring() {
		return 0, false
	}
	for range 2 {
		i += 2
		if i > len(body) || !cstring() {
			return 0, false
		}
	}
	return i, i < len(body)
}

// takeBadUDH reports whether p was mended by the guard, and then logs and
// counts its refusal.
func (s *SMPP) takeBadUDH(p pdu.PDU) (data.CommandStatusType, bool) {
	if _, ok := s.badUDH.LoadAndDelete(p.GetSequenceNumber()); !ok {
		return 0, false
	}
	var from string
	var length int
	if d, ok := p.(*pdu.DeliverSM); ok {
		from = moAddress(d.SourceAddr)
		b, _ := d.Message.GetMessageData()
		length = len(b)
	}
	metrics.SMPPMO.WithLabelValues(s.cfg.Name, "malformed_udh").Inc()
	s.log.Warn("smpp MO refused: user data header does not fit the message (ESME_RINVMSGLEN); session kept",
		zap.String("from", sms.MaskPhone(from)), zap.Int("length", length))
	return statusBadUDH, true
}
