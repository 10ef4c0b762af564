package sms

import (
	"fmt"

	wsms "github.com/warthog618/sms"
	"github.com/warthog618/sms/encoding/tpdu"
)

// Encoding names as stored and reported.
const (
	GSM7 = "gsm7"
	UCS2 = "ucs2"
)

// Segments returns how many SMS parts text takes and its encoding: GSM 03.38
// (160 septets, 153 per part when concatenated; extension characters take
// two) when every character fits, UCS-2 (70, 67 per part) otherwise. The
// split is warthog618/sms's, which never cuts an escape or a surrogate pair.
func Segments(text string) (int, string, error) {
	if text == "" {
		return 1, GSM7, nil
	}
	parts, err := wsms.Encode([]byte(text))
	if err != nil {
		return 0, "", fmt.Errorf("segments: %w", err)
	}
	enc := UCS2
	if a, err := parts[0].Alphabet(); err == nil && a == tpdu.Alpha7Bit {
		enc = GSM7
	}
	return len(parts), enc, nil
}
