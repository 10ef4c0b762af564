package provider

import (
	"fmt"
	"math/big"
	"strings"

	"go.uber.org/zap"
)

// SMPP message id mapping.
//
// SMPP 3.4 makes message_id a C string and says nothing of its form, and
// some SMSCs write the same id differently in the submit_sm_resp and in
// the delivery receipt: hexadecimal in one, decimal in the other (Nexmo,
// for one, answers submit_sm in hex and writes the receipt's id: in
// decimal), or with leading zeros or another case. Compared as text, such
// receipts match no SMS and end "unknown". Kannel's msg-id-type and
// Jasmin's dlr_msgid exist for exactly this; message_id_type is ours:
//
//	as-is     (default) both ids compared as sent, spaces trimmed: today's behaviour
//	dec       both decimal             (Kannel msg-id-type 0x00)
//	hex       both hexadecimal         (Kannel 0x03)
//	hex-dec   submit_sm_resp hex, receipt decimal (Kannel 0x01)
//	dec-hex   submit_sm_resp decimal, receipt hex (Kannel 0x02)
//
// With a base set, both ids are read as numbers and written back in the
// submit_sm_resp's base, lower case, without leading zeros: that is the
// SMS's provider reference (Result.Ref) and what a receipt's id becomes,
// so the two meet whatever the SMSC's spelling.

// idBase is how one side writes its message ids.
type idBase int

const (
	idAsIs idBase = iota
	idDec
	idHex
)

func (b idBase) String() string {
	switch b {
	case idDec:
		return "decimal"
	case idHex:
		return "hexadecimal"
	}
	return "as-is"
}

// MessageIDType is how an SMSC writes message ids in its submit_sm_resp
// (Submit) and in its delivery receipts (Receipt); the zero value compares
// them as sent.
type MessageIDType struct{ Submit, Receipt idBase }

// MessageIDTypes are the values message_id_type takes, in the order the
// docs list them.
var MessageIDTypes = []string{"as-is", "dec", "hex", "hex-dec", "dec-hex"}

// ParseMessageIDType reads a message_id_type value ("" is as-is).
func ParseMessageIDType(s string) (MessageIDType, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "as-is":
		return MessageIDType{}, nil
	case "dec", "dec-dec":
		return MessageIDType{idDec, idDec}, nil
	case "hex", "hex-hex":
		return MessageIDType{idHex, idHex}, nil
	case "hex-dec":
		return MessageIDType{idHex, idDec}, nil
	case "dec-hex":
		return MessageIDType{idDec, idHex}, nil
	}
	return MessageIDType{}, fmt.Errorf("must be one of %s, got %q", strings.Join(MessageIDTypes, ", "), s)
}

func (t MessageIDType) String() string {
	switch {
	case t.Submit == idAsIs:
		return "as-is"
	case t.Submit == t.Receipt:
		return t.Submit.String()
	}
	return t.Submit.String() + " submit_sm_resp, " + t.Receipt.String() + " receipts"
}

// SubmitID is the provider reference of a submit_sm_resp's message_id.
func (t MessageIDType) SubmitID(id string) (string, error) { return t.canonical(id, t.Submit) }

// ReceiptID is the provider reference a receipt's id (its id: field or
// receipted_message_id) names.
func (t MessageIDType) ReceiptID(id string) (string, error) { return t.canonical(id, t.Receipt) }

// canonical reads id in base from and writes it in the submit side's base.
// An id that is not a number in that base is an error: the SMSC does not
// write ids as configured.
func (t MessageIDType) canonical(id string, from idBase) (string, error) {
	id = strings.TrimSpace(id)
	if t.Submit == idAsIs {
		return id, nil
	}
	base, digits := 10, "0123456789"
	if from == idHex {
		base, digits = 16, "0123456789abcdefABCDEF"
	}
	// big.Int would also take a sign and underscores; an id has neither.
	if id == "" || strings.Trim(id, digits) != "" {
		return "", fmt.Errorf("message id %q is not %s", id, from)
	}
	n, ok := new(big.Int).SetString(id, base)
	if !ok {
		return "", fmt.Errorf("message id %q is not %s", id, from)
	}
	if t.Submit == idHex {
		return n.Text(16), nil
	}
	return n.Text(10), nil
}

// submitID is the reference of an accepted submit_sm. An id the SMSC did
// not write as message_id_type says is kept as sent and logged as an
// error: the SMS was accepted (failing it would send it again), but its
// receipts will not resolve until message_id_type is fixed. Message ids
// are the SMSC's, not personal data, so they are logged.
func (s *SMPP) submitID(id string) string {
	ref, err := s.cfg.MessageIDType.SubmitID(id)
	if err != nil {
		s.log.Error("smpp submit_sm_resp message_id does not match message_id_type: check the provider's configuration",
			zap.String("message_id_type", s.cfg.MessageIDType.String()), zap.Error(err))
		return strings.TrimSpace(id)
	}
	return ref
}

// receiptID is the reference a receipt names (see submitID for an id
// that does not read as configured: it is kept, and will end unknown).
func (s *SMPP) receiptID(id string) string {
	ref, err := s.cfg.MessageIDType.ReceiptID(id)
	if err != nil {
		s.log.Error("smpp receipt message id does not match message_id_type: check the provider's configuration",
			zap.String("message_id_type", s.cfg.MessageIDType.String()), zap.Error(err))
		return strings.TrimSpace(id)
	}
	return ref
}
