package provider

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fiorix/go-smpp/smpp/pdu/pdutlv"
	"github.com/linxGnu/gosmpp/pdu"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

func TestParseDLR(t *testing.T) {
	t.Parallel()
	date := func(s string) time.Time {
		d, err := time.Parse("2006-01-02 15:04:05", s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for _, tc := range []struct {
		name, text     string
		ref, stat, err string
		done           time.Time
		ok             bool
	}{
		{"canonical", "id:0123456789 sub:001 dlvrd:001 submit date:2401021504 done date:2401021505 stat:DELIVRD err:000 text:Hello there",
			"0123456789", "DELIVRD", "000", date("2024-01-02 15:05:00"), true},
		{"seconds", "id:abc sub:001 dlvrd:000 submit date:240102150401 done date:240102150559 stat:UNDELIV err:001 text:",
			"abc", "UNDELIV", "001", date("2024-01-02 15:05:59"), true},
		{"upper case", "ID:X1 SUB:001 DLVRD:000 SUBMIT DATE:2401021504 DONE DATE:2401021505 STAT:expired ERR:027 TEXT:hi",
			"X1", "EXPIRED", "027", date("2024-01-02 15:05:00"), true},
		{"any order", "stat:REJECTD err:0x0B done date:2312312359 id:77-aa_b",
			"77-aa_b", "REJECTD", "0x0B", date("2023-12-31 23:59:00"), true},
		{"underscores", "id:5 submit_date:2401021504 done_date:2401021505 stat:DELIVRD",
			"5", "DELIVRD", "", date("2024-01-02 15:05:00"), true},
		{"value after a space", "id: 42 stat: ENROUTE err: 0",
			"42", "ENROUTE", "0", time.Time{}, true},
		{"missing fields", "id:9 stat:ACCEPTD", "9", "ACCEPTD", "", time.Time{}, true},
		{"stat only", "stat:UNKNOWN", "", "UNKNOWN", "", time.Time{}, true},
		{"text is not read", "id:1 stat:UNDELIV err:002 text:stat:DELIVRD id:2",
			"1", "UNDELIV", "002", time.Time{}, true},
		{"nul padded", "id:1 stat:DELIVRD err:000\x00\x00", "1", "DELIVRD", "000", time.Time{}, true},
		{"tabs and newlines", "id:1\tstat:DELIVRD\r\nerr:000", "1", "DELIVRD", "000", time.Time{}, true},
		{"bad dates", "id:1 done date:2413011200 submit date:99 stat:DELIVRD", "1", "DELIVRD", "", time.Time{}, true},
		{"short date", "id:1 done date:24010215 stat:DELIVRD", "1", "DELIVRD", "", time.Time{}, true},
		{"context is not text", "id:1 context:x stat:DELIVRD", "1", "DELIVRD", "", time.Time{}, true},
		{"empty", "", "", "", "", time.Time{}, false},
		{"not a receipt", "Hello, see you at 10:30", "", "", "", time.Time{}, false},
		{"empty values", "id: stat: err:", "", "", "", time.Time{}, false},
		{"colons only", ":::: : :", "", "", "", time.Time{}, false},
		{"text first", "text:id:1 stat:DELIVRD", "", "", "", time.Time{}, false},
		{"binary", "\xff\xfe\x00id\x01:\x80", "", "", "", time.Time{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref, stat, errCode, done, ok := ParseDLR(tc.text)
			if ref != tc.ref || stat != tc.stat || errCode != tc.err || !done.Equal(tc.done) || ok != tc.ok {
				t.Errorf("ParseDLR(%q) = %q %q %q %v %v, want %q %q %q %v %v",
					tc.text, ref, stat, errCode, done, ok, tc.ref, tc.stat, tc.err, tc.done, tc.ok)
			}
		})
	}
}

func TestDLRStatus(t *testing.T) {
	t.Parallel()
	for stat, want := range map[string]string{
		"DELIVRD": "delivered", "delivrd": "delivered",
		"UNDELIV": "undelivered", "EXPIRED": "undelivered", "REJECTD": "undelivered", "DELETED": "undelivered",
		"ENROUTE": "enroute", "ACCEPTD": "accepted", "UNKNOWN": "unknown",
		"BUFFRED": "buffred", "": "",
	} {
		if got := string(DLRStatus(stat)); got != want {
			t.Errorf("DLRStatus(%q) = %q, want %q", stat, got, want)
		}
	}
}

func TestSMPPReceiptTLV(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	field := func(tag pdu.Tag, b ...byte) pdu.Field { return pdu.Field{Tag: tag, Data: b} }
	ucs2 := func(s string) []byte {
		var b []byte
		for _, r := range s {
			b = append(b, byte(r>>8), byte(r))
		}
		return b
	}
	for _, tc := range []struct {
		name   string
		coding byte
		sm     string
		tlvs   []pdu.Field
		want   sms.Receipt
		ok     bool
	}{
		{"text", 0, "id:A1 stat:DELIVRD err:000 done date:2401021505", nil,
			sms.Receipt{Ref: "A1", Status: "delivered", ErrorCode: "000", At: time.Date(2024, 1, 2, 15, 5, 0, 0, time.UTC)}, true},
		{"tlvs win", 0, "id:WRONG stat:DELIVRD err:034",
			[]pdu.Field{field(pdu.TagReceiptedMessageID, 'B', '2', 0), field(pdu.TagMessageStateOption, 5)},
			sms.Receipt{Ref: "B2", Status: "undelivered", ErrorCode: "034", At: now}, true},
		{"tlvs only", 0, "",
			[]pdu.Field{field(pdu.TagReceiptedMessageID, 'C', '3'), field(pdu.TagMessageStateOption, 2), field(pdu.TagNetworkErrorCode, 3, 0, 11)},
			sms.Receipt{Ref: "C3", Status: "delivered", ErrorCode: "011", At: now}, true},
		{"unknown message_state keeps stat", 0, "id:D4 stat:EXPIRED", []pdu.Field{field(pdu.TagMessageStateOption, 42)},
			sms.Receipt{Ref: "D4", Status: "undelivered", At: now}, true},
		{"message_payload", 0, "", []pdu.Field{{Tag: pdu.TagMessagePayload, Data: []byte("id:E5 stat:ENROUTE")}},
			sms.Receipt{Ref: "E5", Status: "enroute", At: now}, true},
		{"ucs2 text", 8, string(ucs2("id:F6 stat:REJECTD err:1")), nil,
			sms.Receipt{Ref: "F6", Status: "undelivered", ErrorCode: "1", At: now}, true},
		{"no ref", 0, "stat:DELIVRD", nil, sms.Receipt{}, false},
		{"no status", 0, "id:G7 err:000", nil, sms.Receipt{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tlvs := map[pdu.Tag]pdu.Field{}
			for _, f := range tc.tlvs {
				tlvs[f.Tag] = f
			}
			got, ok := smppReceipt("smsc1", tc.coding, []byte(tc.sm), tlvs, now)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v (%+v)", ok, tc.ok, got)
			}
			if ok {
				tc.want.Provider = "smsc1"
				if got != tc.want {
					t.Errorf("got %+v, want %+v", got, tc.want)
				}
			}
		})
	}
}

// receiptClient binds a client whose receipts arrive on a channel.
func receiptClient(t *testing.T, smsc *testenv.SMSC) (*SMPP, chan sms.Receipt) {
	t.Helper()
	ch := make(chan sms.Receipt, 16)
	c := newTestSMPP(t, smsc.Addr(), func(c *SMPPConfig) {
		c.OnReceipt = func(_ context.Context, r sms.Receipt) error { ch <- r; return nil }
	})
	return c, ch
}

func nextReceipt(t *testing.T, ch chan sms.Receipt) sms.Receipt {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(2 * time.Second):
		t.Fatal("no receipt reached OnReceipt")
		return sms.Receipt{}
	}
}

func TestSMPPReceipts(t *testing.T) {
	t.Parallel()
	smsc := testenv.NewSMSC(t).Start()
	c, receipts := receiptClient(t, smsc)
	res := mustSend(t, c, Request{To: "+4915112345678", Text: "hello"})

	// A mobile-originated SMS is answered and otherwise ignored.
	smsc.Answered(t, smsc.Deliver(t, 0x00, 0, []byte("a reply from the phone"), nil))

	// Text form.
	text := "id:" + res.Ref + " sub:001 dlvrd:001 submit date:2401021504 done date:2401021505 stat:DELIVRD err:000 text:hello"
	smsc.Answered(t, smsc.Deliver(t, 0x04, 0, []byte(text), nil))
	want := sms.Receipt{Provider: "smsc1", Ref: res.Ref, Status: "delivered", ErrorCode: "000", At: time.Date(2024, 1, 2, 15, 5, 0, 0, time.UTC)}
	if r := nextReceipt(t, receipts); r != want {
		t.Errorf("text receipt %+v, want %+v", r, want)
	}

	// TLV form: receipted_message_id and message_state win over the text.
	seq := smsc.Deliver(t, 0x04, 0, []byte("id:other stat:DELIVRD err:021"), map[pdutlv.Tag][]byte{
		pdutlv.TagReceiptedMessageID: append([]byte(res.Ref), 0),
		pdutlv.TagMessageStateOption: {5},
	})
	smsc.Answered(t, seq)
	if r := nextReceipt(t, receipts); r.Ref != res.Ref || r.Status != "undelivered" || r.ErrorCode != "021" || r.At.IsZero() {
		t.Errorf("TLV receipt %+v", r)
	}

	// An unreadable receipt is answered all the same and reported nowhere.
	smsc.Answered(t, smsc.Deliver(t, 0x04, 0, []byte("garbage"), nil))
	select {
	case r := <-receipts:
		t.Errorf("unexpected receipt %+v", r)
	default:
	}
}

func TestSMPPReceiptLaterPart(t *testing.T) {
	t.Parallel()
	smsc := testenv.NewSMSC(t).Start()
	c, receipts := receiptClient(t, smsc)
	text := strings.Repeat("long text ", 40)
	n, _, _ := sms.Segments(text)
	res := mustSend(t, c, Request{To: "+4915112345678", Text: text})
	var ids []string
	for i := 0; i < n; i++ {
		ids = append(ids, smsc.Next(t).ID)
	}
	if ids[0] != res.Ref || n < 3 {
		t.Fatalf("ref %q, part ids %q", res.Ref, ids)
	}
	for _, id := range ids[1:] {
		smsc.Answered(t, smsc.Deliver(t, 0x04, 0, []byte("id:"+id+" stat:UNDELIV err:005"), nil))
		if r := nextReceipt(t, receipts); r.Ref != res.Ref || r.Status != "undelivered" {
			t.Errorf("receipt of part %s: %+v, want ref %s", id, r, res.Ref)
		}
	}
}

func FuzzParseDLR(f *testing.F) {
	for _, s := range []string{
		"id:0123456789 sub:001 dlvrd:001 submit date:2401021504 done date:2401021505 stat:DELIVRD err:000 text:Hello",
		"ID:X SUBMIT DATE:240102150401 DONE DATE:240102150559 STAT:UNDELIV ERR:001",
		"stat:REJECTD err:0x0B done date:2312312359 id:77",
		"id: 42 stat: ENROUTE err: 0", "id: submit date:", "done date:", "text:", "TeXt:id:1",
		"", ":", "id:\x00", "\xff\xfe", "id:1 done date:2413011200",
	} {
		f.Add(s)
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, text string) {
		ref, stat, _, _, ok := ParseDLR(text)
		if ok != (ref != "" || stat != "") {
			t.Errorf("ok %v with ref %q stat %q", ok, ref, stat)
		}
		if strings.ToUpper(stat) != stat {
			t.Errorf("stat %q not upper case", stat)
		}
		if strings.ContainsAny(ref+stat, " \t\n\x00") {
			t.Errorf("space in ref %q or stat %q", ref, stat)
		}
		if r, ok := smppReceipt("p", 0, []byte(text), nil, now); ok && (r.Ref == "" || r.Status == "") {
			t.Errorf("receipt without ref or status: %+v", r)
		}
		_, _ = smppReceipt("p", 8, []byte(text), nil, now)
	})
}
