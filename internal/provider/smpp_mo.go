package provider

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/metrics"
	"github.com/smsfleet/smsfleet/internal/sms"
)

// SMPP mobile-originated messages (MO): replies from phones.
//
// A deliver_sm or data_sm whose esm_class is not a receipt (see isReceipt)
// carries an SMS a phone sent to one of our numbers. Its text is decoded
// per data_coding (decodeMO), its addresses read with their TON
// (moAddress), and it goes to SMPPConfig.OnReply, the fleet's inbound
// path. A long one comes in parts, each its own PDU, tied together either
// by a concatenation UDH in the text (IEI 0x00, 8-bit reference, or 0x08,
// 16-bit) or by the sar_msg_ref_num, sar_total_segments and
// sar_segment_seqnum TLVs; the parts are held (smpp_mo_assembly.go) until
// the last one comes, and the whole text goes on as one reply.
//
// Each MO PDU is answered only once landed (smpp_inbox.go): a message in
// one piece once OnReply landed it, a part of a long one once held
// (smpp_mo_parts.go), the last part once the whole is landed. One we
// refuse (an encoding we cannot read, no source address, broken
// concatenation fields) is answered with a permanent error
// (ESME_RX_P_APPN), logged at warn, without its text or full number,
// counted in smsfleet_smpp_mo_total, and not passed on.

// moPart is one MO PDU, read.
type moPart struct {
	from, to string
	coding   byte
	known    bool   // gosmpp knew data_coding (coding is meaningful)
	text     []byte // user data without its UDH
	// total, seq and ref are the concatenation fields; total is 0 for a
	// message in one piece. ref16 tells a 16-bit reference from an 8-bit
	// one: the same number in both is two references.
	total, seq int
	ref        uint16
	ref16      bool
}

// onMODeliverSM reads a deliver_sm that is not a receipt and returns the
// status to answer it with.
func (s *SMPP) onMODeliverSM(ctx context.Context, p *pdu.DeliverSM) data.CommandStatusType {
	part := moPart{
		from: moAddress(p.SourceAddr), to: moAddress(p.DestAddr),
	}
	if enc := p.Message.Encoding(); enc != nil {
		part.coding, part.known = enc.DataCoding(), true
	}
	part.text, _ = p.Message.GetMessageData()
	udh := p.Message.UDH()
	if len(part.text) == 0 {
		// sm_length 0: the text (and its UDH, which gosmpp left in it)
		// is in message_payload.
		if f, ok := p.OptionalParameters[pdu.TagMessagePayload]; ok {
			var err error
			if part.text, udh, err = splitUDH(p.EsmClass, f.Data); err != nil {
				return s.refuseMO(part, "malformed", "bad user data header in message_payload", err)
			}
		}
	}
	return s.onMO(ctx, part, udh, p.OptionalParameters)
}

// onMODataSM reads a data_sm that is not a receipt: its text is always in
// message_payload.
func (s *SMPP) onMODataSM(ctx context.Context, p *pdu.DataSM) data.CommandStatusType {
	part := moPart{
		from: moAddress(p.SourceAddr), to: moAddress(p.DestAddr),
		coding: p.DataCoding, known: data.FromDataCoding(p.DataCoding) != nil || isGSMClass(p.DataCoding),
	}
	if f, ok := p.OptionalParameters[pdu.TagMessagePayload]; ok {
		var (
			udh pdu.UDH
			err error
		)
		if part.text, udh, err = splitUDH(p.EsmClass, f.Data); err != nil {
			return s.refuseMO(part, "malformed", "bad user data header in message_payload", err)
		}
		return s.onMO(ctx, part, udh, p.OptionalParameters)
	}
	return s.onMO(ctx, part, nil, p.OptionalParameters)
}

// splitUDH separates the UDH from user data when esm_class says there is
// one (UDHI, 0x40).
func splitUDH(esm byte, ud []byte) ([]byte, pdu.UDH, error) {
	if esm&data.SM_UDH_GSM == 0 || len(ud) == 0 {
		return ud, nil, nil
	}
	var udh pdu.UDH
	n, err := udh.UnmarshalBinary(ud)
	if err != nil {
		return nil, nil, err
	}
	return ud[n:], udh, nil
}

// onMO checks a part, holds the parts of a long message and hands a
// whole one on; it returns the status to answer the PDU with.
func (s *SMPP) onMO(ctx context.Context, part moPart, udh pdu.UDH, tlvs map[pdu.Tag]pdu.Field) data.CommandStatusType {
	if part.from == "" {
		return s.refuseMO(part, "malformed", "no source_addr", nil)
	}
	if err := concatInfo(&part, udh, tlvs); err != nil {
		return s.refuseMO(part, "malformed", "bad concatenation fields", err)
	}
	if part.total <= 1 {
		return s.passMO(ctx, part.from, part.to, part.coding, part.known, part.text)
	}
	if part.total > s.mo.cfg.MaxParts {
		s.countMO(moTooManyParts)
		s.log.Warn("smpp MO refused: more parts than allowed", zap.String("from", sms.MaskPhone(part.from)),
			zap.Int("parts", part.total), zap.Int("max_parts", s.mo.cfg.MaxParts))
		return statusRefused
	}
	whole, res, err := s.holder.add(ctx, part, s.now())
	s.countMO(res)
	switch res {
	case moNotStored:
		s.log.Warn("smpp MO part not stored: answered with a temporary error, the SMSC delivers it again",
			zap.String("from", sms.MaskPhone(part.from)), zap.Error(err))
		return statusRetry
	case moBusy:
		return statusRetry // another bind is handing the whole on
	case moDuplicate:
		s.log.Info("smpp MO part received twice: ignored", zap.String("from", sms.MaskPhone(part.from)), zap.Int("part", part.seq))
	case moCodingMismatch:
		s.log.Warn("smpp MO refused: parts of one message in different data_codings", zap.String("from", sms.MaskPhone(part.from)))
		return statusRefused
	case moComplete:
		return s.passWhole(ctx, part, whole)
	}
	return data.ESME_ROK
}

// passWhole hands a complete long message on, then forgets its parts; if
// it did not land, it keeps them for the SMSC's next copy of the part.
func (s *SMPP) passWhole(ctx context.Context, part, whole moPart) data.CommandStatusType {
	st := s.passMO(ctx, whole.from, whole.to, whole.coding, whole.known, whole.text)
	// The landing may have used up ctx; the bookkeeping gets its own
	// bounded time.
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.LandTimeout)
	defer cancel()
	if st == statusRetry {
		s.holder.release(bctx, part)
		return st
	}
	if err := s.holder.handedOn(bctx, part); err != nil {
		// Landed: acknowledge. Its parts stay leased until the lease runs
		// out; only a copy of a part after that could land it twice.
		s.log.Warn("smpp MO landed but its parts not marked handed on", zap.String("from", sms.MaskPhone(part.from)), zap.Error(err))
	}
	return st
}

// concatInfo fills part's concatenation fields from its UDH (IEI 0x00 or
// 0x08), or else from the sar_* TLVs. A part numbered outside 1..total is
// an error.
func concatInfo(part *moPart, udh pdu.UDH, tlvs map[pdu.Tag]pdu.Field) error {
	if ie, ok := udh.FindInfoElement(data.UDH_CONCAT_MSG_8_BIT_REF); ok {
		if len(ie.Data) != 3 {
			return fmt.Errorf("IEI 0x00 of %d octets, want 3", len(ie.Data))
		}
		part.ref, part.total, part.seq = uint16(ie.Data[0]), int(ie.Data[1]), int(ie.Data[2])
	} else if ie, ok := udh.FindInfoElement(data.UDH_CONCAT_MSG_16_BIT_REF); ok {
		if len(ie.Data) != 4 {
			return fmt.Errorf("IEI 0x08 of %d octets, want 4", len(ie.Data))
		}
		part.ref, part.ref16 = binary.BigEndian.Uint16(ie.Data), true
		part.total, part.seq = int(ie.Data[2]), int(ie.Data[3])
	} else if ref, ok := tlvs[pdu.TagSarMsgRefNum]; ok {
		total, okT := tlvs[pdu.TagSarTotalSegments]
		seq, okS := tlvs[pdu.TagSarSegmentSeqnum]
		if !okT || !okS || len(ref.Data) != 2 || len(total.Data) != 1 || len(seq.Data) != 1 {
			return errors.New("sar_msg_ref_num without well-formed sar_total_segments and sar_segment_seqnum")
		}
		// SMPP 3.4 §5.3.2.22: a 16-bit reference.
		part.ref, part.ref16 = binary.BigEndian.Uint16(ref.Data), true
		part.total, part.seq = int(total.Data[0]), int(seq.Data[0])
	} else {
		return nil
	}
	if part.total == 0 || part.seq < 1 || part.seq > part.total {
		return fmt.Errorf("part %d of %d", part.seq, part.total)
	}
	return nil
}

// passMO decodes a whole message and lands it through OnReply; it
// returns the status to answer with.
func (s *SMPP) passMO(ctx context.Context, from, to string, coding byte, known bool, ud []byte) data.CommandStatusType {
	text, err := decodeMO(coding, known, ud)
	if err != nil {
		return s.refuseMO(moPart{from: from, coding: coding, text: ud}, "bad_encoding", "text not readable in its data_coding", err)
	}
	if s.cfg.OnReply == nil {
		s.countMO(moNoHandler)
		s.log.Warn("smpp MO dropped: nothing receives inbound messages", zap.String("from", sms.MaskPhone(from)))
		return data.ESME_ROK
	}
	err = s.cfg.OnReply(ctx, s.cfg.Name, Reply{From: from, To: to, Text: text})
	st := landStatus(err)
	switch st {
	case data.ESME_ROK:
		s.countMO(moPassed)
	case statusRefused:
		metrics.SMPPMO.WithLabelValues(s.cfg.Name, "refused").Inc()
		s.log.Warn("smpp MO refused by the inbound path", zap.String("from", sms.MaskPhone(from)), zap.Error(err))
	default:
		s.countMO(moNotLanded)
		s.log.Warn("smpp MO not landed: answered with a temporary error, the SMSC delivers it again",
			zap.String("from", sms.MaskPhone(from)), zap.Error(err))
	}
	return st
}

// refuseMO logs and counts an MO we cannot pass on, and returns the
// permanent refusal to answer it with. The text is never logged (it is
// personal data), nor the full number.
func (s *SMPP) refuseMO(part moPart, result, why string, err error) data.CommandStatusType {
	metrics.SMPPMO.WithLabelValues(s.cfg.Name, result).Inc()
	fields := []zap.Field{zap.String("from", sms.MaskPhone(part.from)), zap.Uint8("data_coding", part.coding),
		zap.Int("length", len(part.text))}
	if err != nil {
		fields = append(fields, zap.Error(err))
	}
	s.log.Warn("smpp MO refused: "+why, fields...)
	return statusRefused
}

func (s *SMPP) countMO(r moResult) {
	metrics.SMPPMO.WithLabelValues(s.cfg.Name, r.String()).Inc()
}

// errEncoding is a text that its data_coding cannot read.
var errEncoding = errors.New("bad encoding")

// decodeMO reads user data per SMPP 3.4 §5.2.19 data_coding: 0 (the SMSC
// default alphabet, which SMSCs deliver as GSM 03.38 septets, one an
// octet) and 0xF0-0xF3 (GSM 7-bit with a message class), 1 (IA5/ASCII),
// 3 (Latin-1), 6 (Cyrillic), 7 (Hebrew) and 8 (UCS-2, read as UTF-16 so
// the surrogate pairs of emoji survive). Binary codings (2, 4, 0xF4-0xF7)
// and anything else are not text: an error. Every byte must be valid: a
// text with an undecodable byte is refused rather than passed on with a
// replacement character, since a keyword (STOP) could hide behind it.
// known is false when gosmpp did not recognise data_coding.
func decodeMO(coding byte, known bool, ud []byte) (string, error) {
	if !known && !isGSMClass(coding) {
		// gosmpp reports a deliver_sm's data_coding only when it knows it.
		return "", fmt.Errorf("%w: a data_coding that is no text coding we read", errEncoding)
	}
	var (
		text string
		err  error
	)
	switch {
	case coding == data.GSM7BITCoding || isGSMClass(coding):
		text, err = data.GSM7BIT.Decode(ud)
	case coding == data.ASCIICoding:
		for _, b := range ud {
			if b >= 0x80 {
				return "", fmt.Errorf("%w: octet %#02x in IA5 text", errEncoding, b)
			}
		}
		text = string(ud)
	case coding == data.LATIN1Coding, coding == data.CYRILLICCoding, coding == data.HEBREWCoding:
		text, err = data.FromDataCoding(coding).Decode(ud)
	case coding == data.UCS2Coding:
		text, err = decodeUTF16(ud)
	default:
		return "", fmt.Errorf("%w: data_coding %#02x is binary, not text", errEncoding, coding)
	}
	if err != nil {
		return "", fmt.Errorf("%w: data_coding %#02x: %v", errEncoding, coding, err)
	}
	if !utf8.ValidString(text) || strings.ContainsRune(text, utf8.RuneError) {
		return "", fmt.Errorf("%w: data_coding %#02x: undecodable characters", errEncoding, coding)
	}
	return text, nil
}

// isGSMClass is a data_coding of the GSM "message class" group with the
// default alphabet: 1111 0xxx with bit 2 clear.
func isGSMClass(coding byte) bool { return coding&0xF4 == 0xF0 }

// decodeUTF16 reads big-endian UTF-16, refusing an odd length and an
// unpaired surrogate.
func decodeUTF16(b []byte) (string, error) {
	if len(b)%2 != 0 {
		return "", fmt.Errorf("odd length %d", len(b))
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.BigEndian.Uint16(b[2*i:])
	}
	for i := 0; i < len(u); i++ {
		switch {
		case utf16.IsSurrogate(rune(u[i])) && u[i] < 0xDC00 && i+1 < len(u) && u[i+1] >= 0xDC00 && u[i+1] <= 0xDFFF:
			i++ // a pair
		case utf16.IsSurrogate(rune(u[i])):
			return "", fmt.Errorf("unpaired surrogate %#04x at %d", u[i], i)
		}
	}
	return string(utf16.Decode(u)), nil
}

// moAddress is an MO address as the fleet writes numbers: an international
// one (TON 1) as +digits, the rest (alphanumeric, national, short codes,
// unknown) as sent, since only the SMSC's country could complete them.
func moAddress(a pdu.Address) string {
	addr := strings.TrimSpace(a.Address())
	if a.Ton() == data.GSM_TON_INTERNATIONAL && addr != "" && !strings.HasPrefix(addr, "+") {
		if _, ok := smppNumber(addr); ok {
			return "+" + addr
		}
	}
	return addr
}
