package provider

import (
	"context"
	"strings"
	"testing"

	"github.com/fiorix/go-smpp/smpp/pdu/pdutlv"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

func TestParseMessageIDType(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want MessageIDType
		bad  bool
	}{
		{"", MessageIDType{}, false},
		{"as-is", MessageIDType{}, false},
		{"dec", MessageIDType{idDec, idDec}, false},
		{"dec-dec", MessageIDType{idDec, idDec}, false},
		{"HEX", MessageIDType{idHex, idHex}, false},
		{"hex-dec", MessageIDType{idHex, idDec}, false},
		{" dec-hex ", MessageIDType{idDec, idHex}, false},
		{"0x01", MessageIDType{}, true},
		{"hexadecimal", MessageIDType{}, true},
		{"hex-", MessageIDType{}, true},
	} {
		got, err := ParseMessageIDType(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseMessageIDType(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

func TestMessageIDMapping(t *testing.T) {
	t.Parallel()
	// sub and rcp are what each side's id becomes; "!" is an error.
	for _, tc := range []struct {
		name, typ       string
		submit, receipt string
		sub, rcp        string
	}{
		{"as-is keeps ids as sent", "as-is", "00AbC", " 00AbC ", "00AbC", "00AbC"},
		{"as-is does not equate spellings", "as-is", "1F", "31", "1F", "31"},
		{"hex submit, decimal receipt", "hex-dec", "0A1B2C3D", "169552957", "a1b2c3d", "a1b2c3d"},
		{"decimal submit, hex receipt", "dec-hex", "169552957", "A1B2C3D", "169552957", "169552957"},
		{"leading zeros", "dec", "000123", "123", "123", "123"},
		{"hex case", "hex", "ABCDEF01", "abcdef01", "abcdef01", "abcdef01"},
		{"hex leading zeros and case", "hex", "00ff", "FF", "ff", "ff"},
		{"zero", "dec", "0000", "0", "0", "0"},
		{"beyond 64 bits", "hex-dec", "1" + strings.Repeat("0", 20), "1208925819614629174706176", "1" + strings.Repeat("0", 20), "1" + strings.Repeat("0", 20)},
		{"receipt id not decimal", "hex-dec", "ff", "ff", "ff", "!"},
		{"submit id not hex", "hex-dec", "xyz", "255", "!", "ff"},
		{"signed", "dec", "-1", "+1", "!", "!"},
		{"hex prefix", "hex", "0x1f", "1f", "!", "1f"},
		{"empty", "dec", "1", "", "1", "!"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			typ, err := ParseMessageIDType(tc.typ)
			if err != nil {
				t.Fatal(err)
			}
			for _, side := range []struct {
				name, in, want string
				f              func(string) (string, error)
			}{
				{"SubmitID", tc.submit, tc.sub, typ.SubmitID},
				{"ReceiptID", tc.receipt, tc.rcp, typ.ReceiptID},
			} {
				got, err := side.f(side.in)
				if err != nil {
					got = "!"
				}
				if got != side.want {
					t.Errorf("%s(%q) = %q (%v), want %q", side.name, side.in, got, err, side.want)
				}
			}
		})
	}
}

func TestSMPPConfigMessageIDType(t *testing.T) {
	t.Parallel()
	c := Config{Name: "smsc", Kind: KindSMPP, Addr: "h:1", SystemID: "x", MessageIDType: "decimal"}
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "provider smsc") || !strings.Contains(err.Error(), "message_id_type") {
		t.Fatalf("Validate = %v, want an error naming the provider and message_id_type", err)
	}
	if _, err := New(c, Deps{}); err == nil {
		t.Fatal("New accepted a bad message_id_type")
	}
	c.MessageIDType = "hex-dec"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestSMPPReceiptMessageIDType: an SMSC that answers submit_sm in hex with
// leading zeros and writes receipts in decimal (as Nexmo does); with
// hex-dec its receipts name the SMS's reference, and a later part's
// receipt still maps to the first part. An id that does not read as
// configured is logged as an error and passed on as sent.
func TestSMPPReceiptMessageIDType(t *testing.T) {
	t.Parallel()
	smsc := testenv.NewSMSC(t)
	smsc.ID = func(n int64) string { return []string{"000000FF", "0000010A"}[(n-1)%2] }
	smsc.Start()
	core, logs := observer.New(zap.DebugLevel)
	ch := make(chan sms.Receipt, 16)
	c := newTestSMPP(t, smsc.Addr(), func(c *SMPPConfig) {
		c.MessageIDType = MessageIDType{idHex, idDec}
		c.OnReceipt = func(_ context.Context, r sms.Receipt) error { ch <- r; return nil }
		c.Logger = zap.New(core)
	})
	text := strings.Repeat("x", 200) // two parts: ids 0xFF, 0x10A
	res := mustSend(t, c, Request{To: "+4915112345678", Text: text})
	smsc.Next(t)
	smsc.Next(t)
	if res.Ref != "ff" {
		t.Fatalf("Ref %q, want ff", res.Ref)
	}
	for _, tc := range []struct {
		name string
		sm   string
		tlvs map[pdutlv.Tag][]byte
		ref  string
	}{
		{"text id, decimal", "id:255 stat:DELIVRD", nil, "ff"},
		{"text id, decimal, zero padded", "id:0000000255 stat:DELIVRD", nil, "ff"},
		{"receipted_message_id", "stat:DELIVRD", map[pdutlv.Tag][]byte{pdutlv.TagReceiptedMessageID: []byte("255\x00")}, "ff"},
		{"later part", "id:266 stat:DELIVRD", nil, "ff"},
		{"not decimal: kept as sent", "id:FF stat:DELIVRD", nil, "FF"},
	} {
		smsc.Answered(t, smsc.Deliver(t, 0x04, 0, []byte(tc.sm), tc.tlvs))
		if r := nextReceipt(t, ch); r.Ref != tc.ref {
			t.Errorf("%s: ref %q, want %q", tc.name, r.Ref, tc.ref)
		}
	}
	errs := logs.FilterLevelExact(zap.ErrorLevel).All()
	if len(errs) != 1 || !strings.Contains(errs[0].Message, "message_id_type") {
		t.Errorf("error logs %+v, want one naming message_id_type", errs)
	}
}
