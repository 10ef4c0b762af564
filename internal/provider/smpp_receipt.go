package provider

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/sms"
)

// SMPP delivery receipts.
//
// A receipt is a deliver_sm (or data_sm) whose esm_class says "SMSC
// delivery receipt". SMPP 3.4 leaves its content to the SMSC; in practice
// short_message carries the text of Appendix B,
//
//	id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text: ...
//
// with variations in case, order, missing fields and seconds in the dates,
// and many SMSCs also send the TLVs receipted_message_id and message_state,
// which are typed and unambiguous, so they win over the text when present.

// esm_class bits (SMPP 3.4 §5.2.12, message type) that make a receipt.
const (
	esmReceipt      = data.SM_SMSC_DLV_RCPT_TYPE // 0x04 SMSC delivery receipt
	esmIntermediate = 0x20                       // intermediate delivery notification
)

func isReceipt(esm byte) bool { return esm&esmReceipt != 0 || esm&0x3C == esmIntermediate }

// onDeliverSM handles a deliver_sm and returns the status to answer it
// with (smpp_inbox.go).
func (s *SMPP) onDeliverSM(ctx context.Context, p *pdu.DeliverSM) data.CommandStatusType {
	if !isReceipt(p.EsmClass) {
		return s.onMODeliverSM(ctx, p) // a reply from a phone (smpp_mo.go)
	}
	coding := byte(data.GSM7BITCoding)
	if enc := p.Message.Encoding(); enc != nil {
		coding = enc.DataCoding()
	}
	sm, _ := p.Message.GetMessageData()
	return s.onReceipt(ctx, coding, sm, p.OptionalParameters)
}

// onDataSM handles a data_sm, which some SMSCs use for receipts, the text
// (if any) in message_payload.
func (s *SMPP) onDataSM(ctx context.Context, p *pdu.DataSM) data.CommandStatusType {
	if !isReceipt(p.EsmClass) {
		return s.onMODataSM(ctx, p)
	}
	return s.onReceipt(ctx, p.DataCoding, nil, p.OptionalParameters)
}

// onReceipt lands a receipt through OnReceipt: ESME_ROK once landed, a
// temporary error (the SMSC delivers it again) when it did not land. One
// that cannot be read is acknowledged: it would never read better.
func (s *SMPP) onReceipt(ctx context.Context, coding byte, sm []byte, tlvs map[pdu.Tag]pdu.Field) data.CommandStatusType {
	r, ok := smppReceipt(s.cfg.Name, coding, sm, tlvs, time.Now())
	if !ok {
		// The text echoes the start of the SMS: personal data, so only at
		// debug level.
		s.log.Warn("smpp receipt unreadable", zap.Int("length", len(sm)))
		s.log.Debug("smpp receipt unreadable", zap.ByteString("short_message", sm))
		return data.ESME_ROK
	}
	r.Ref = s.parts.first(s.receiptID(r.Ref))
	if s.cfg.OnReceipt == nil {
		return data.ESME_ROK
	}
	err := s.cfg.OnReceipt(ctx, r)
	st := landStatus(err)
	if st != data.ESME_ROK {
		s.log.Warn("smpp receipt not landed: answered with an error", zap.String("ref", r.Ref),
			zap.Stringer("status", st), zap.Error(err))
	}
	return st
}

// smppReceipt builds a receipt from a receipt PDU's coding, short_message
// and TLVs; ok is false without a message id or a status. now is At when
// the receipt has no done date.
func smppReceipt(provider string, coding byte, sm []byte, tlvs map[pdu.Tag]pdu.Field, now time.Time) (sms.Receipt, bool) {
	if len(sm) == 0 {
		if f, ok := tlvs[pdu.TagMessagePayload]; ok {
			sm = f.Data
		}
	}
	ref, stat, errCode, done, _ := ParseDLR(receiptText(coding, sm))
	status := DLRStatus(stat)
	if f, ok := tlvs[pdu.TagReceiptedMessageID]; ok {
		if id := strings.TrimSpace(f.String()); id != "" {
			ref = id
		}
	}
	// gosmpp names message_state (0x0427) TagMessageStateOption.
	if f, ok := tlvs[pdu.TagMessageStateOption]; ok && len(f.Data) == 1 {
		if st := messageState(f.Data[0]); st != "" {
			status = st
		}
	}
	if f, ok := tlvs[pdu.TagNetworkErrorCode]; ok && errCode == "" && len(f.Data) == 3 {
		// network type, then the network's own 2-octet error code.
		errCode = fmt.Sprintf("%03d", binary.BigEndian.Uint16(f.Data[1:]))
	}
	if ref == "" || status == "" {
		return sms.Receipt{}, false
	}
	at := done
	if at.IsZero() {
		at = now
	}
	return sms.Receipt{Provider: provider, Ref: ref, Status: status, ErrorCode: errCode, At: at}, true
}

// receiptText decodes a receipt's text. It is ASCII in practice whatever
// data_coding says, and reading it as GSM-7 would turn the _ and @ that
// message ids may contain into § and ¡; only UCS-2 needs decoding.
func receiptText(coding byte, sm []byte) string {
	if coding == data.UCS2Coding && len(sm)%2 == 0 {
		if t, err := data.UCS2.Decode(sm); err == nil {
			return t
		}
	}
	return string(sm)
}

// ParseDLR reads the conventional receipt text (SMPP 3.4 Appendix B):
// the message id, the stat word as sent (upper-cased, e.g. "DELIVRD"), the
// err field and the done date (YYMMDDhhmm or YYMMDDhhmmss, read as UTC
// because the SMSC's zone is unknown; zero when missing or invalid).
//
// It is tolerant: fields in any order, any case, missing, "submit_date" for
// "submit date", a value after a space ("stat: DELIVRD"). Reading stops at
// "text:", whose value echoes the start of the SMS and so may contain
// anything, "stat:DELIVRD" included. ok reports whether the text has an id
// or a stat, i.e. looks like a receipt at all.
func ParseDLR(text string) (ref, stat, errCode string, done time.Time, ok bool) {
	if i := textField(text); i >= 0 {
		text = text[:i]
	}
	toks := strings.FieldsFunc(text, func(r rune) bool { return unicode.IsSpace(r) || r == 0 })
	var prev string // a word without a colon: "submit" or "done" before "date:"
	for i := 0; i < len(toks); i++ {
		k, v, found := strings.Cut(toks[i], ":")
		if !found {
			prev = strings.ToLower(toks[i])
			continue
		}
		key := strings.ToLower(k)
		if key == "date" && (prev == "submit" || prev == "done") {
			key = prev + "date"
		}
		key = keySeparators.Replace(key)
		prev = ""
		if v == "" && i+1 < len(toks) && !strings.Contains(toks[i+1], ":") {
			if w := strings.ToLower(toks[i+1]); w != "submit" && w != "done" {
				v = toks[i+1]
				i++
			}
		}
		switch key {
		case "id":
			ref = v
		case "stat", "status":
			stat = strings.ToUpper(v)
		case "err":
			errCode = v
		case "donedate":
			done = parseDLRDate(v)
		}
	}
	return ref, stat, errCode, done, ref != "" || stat != ""
}

// keySeparators go from keys, so "submit_date" reads as "submit date".
var keySeparators = strings.NewReplacer("_", "", "-", "")

// textField returns where the key "text:" (any case) starts a word in s,
// or -1.
func textField(s string) int {
	const key = "text:"
	for i := 0; i+len(key) <= len(s); i++ {
		if i > 0 && !strings.ContainsRune(" \t\n\r\v\f\x00", rune(s[i-1])) {
			continue
		}
		j := 0
		for j < len(key) && lowerASCII(s[i+j]) == key[j] {
			j++
		}
		if j == len(key) {
			return i
		}
	}
	return -1
}

func lowerASCII(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

func parseDLRDate(v string) time.Time {
	var layout string
	switch len(v) {
	case 10:
		layout = "0601021504"
	case 12:
		layout = "060102150405"
	default:
		return time.Time{}
	}
	t, err := time.ParseInLocation(layout, v, time.UTC)
	if err != nil {
		return time.Time{}
	}
	return t
}

// DLRStatus maps a receipt's stat word to a receipt's status: delivered,
// undelivered, or an intermediate status that moves nothing ("enroute",
// "accepted", "unknown", or any word we do not know, lower-cased; see
// sms.Receipt). Empty stays empty.
func DLRStatus(stat string) sms.Status {
	switch s := strings.ToUpper(stat); s {
	case "":
		return ""
	case "DELIVRD", "DELIVERED":
		return sms.Delivered
	case "UNDELIV", "UNDELIVERABLE", "UNDELIVERED", "EXPIRED", "REJECTD", "REJECTED", "DELETED", "SKIPPED":
		return sms.Undelivered
	case "ENROUTE":
		return "enroute"
	case "ACCEPTD", "ACCEPTED":
		return "accepted"
	default:
		return sms.Status(strings.ToLower(s)) // UNKNOWN among them
	}
}

// messageState maps the message_state TLV (SMPP 3.4 §5.2.28; 9 is 5.0's
// SKIPPED) to a receipt's status, as DLRStatus; "" for a value outside the
// table.
func messageState(v byte) sms.Status {
	switch v {
	case 1:
		return "enroute"
	case 2:
		return sms.Delivered
	case 3, 4, 5, 8, 9: // expired, deleted, undeliverable, rejected, skipped
		return sms.Undelivered
	case 6:
		return "accepted"
	case 7:
		return "unknown"
	}
	return ""
}
