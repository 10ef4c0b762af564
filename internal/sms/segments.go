package sms

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Encoding names as stored and reported.
const (
	GSM7 = "gsm7"
	UCS2 = "ucs2"
)

// Capacities of one SMS: 140 octets of user data, i.e. 160 septets or 70
// UTF-16 units. A concatenated part spends 6 octets on its header (UDHL plus
// the 8-bit-reference concatenation IE, as sent by SMPP gateways and
// handsets), leaving 153 septets or 67 units.
const (
	gsm7Single = 160
	gsm7Part   = 153
	ucs2Single = 70
	ucs2Part   = 67
)

// ErrInvalidUTF8 is returned (wrapped) by Segments for text that is not
// UTF-8: its bytes have no defined characters, so neither its encoding nor
// its length on a handset is known, and sending it would deliver U+FFFD
// boxes at best.
var ErrInvalidUTF8 = errors.New("text is not valid UTF-8")

// Segments returns how many SMS parts text takes and its encoding, counted
// exactly as handsets and SMSCs split a message:
//
//   - GSM 03.38 (GSM7) when every character is in the default alphabet or
//     its extension table: 160 septets in a single SMS, 153 per part once
//     concatenated. Extension characters (€ [ ] { } \ ^ ~ | and form feed)
//     take two septets, escape + code, and the pair never straddles two
//     parts, so a part may carry 152 septets.
//   - UCS-2 (UTF-16 really) otherwise, for the whole text: 70 units single,
//     67 per part. A character outside the BMP (most emoji) is a surrogate
//     pair of 2 units that never straddles two parts either.
//
// The GSM-7 national language shift and locking tables (3GPP TS 23.038
// §6.2.1.2.4, Turkish, Spanish, Portuguese, Indic) are deliberately not used:
// only the default alphabet and default extension table. A shift table costs
// a UDH information element in every part, many SMSCs and providers strip or
// ignore it, and handsets render the result inconsistently; what we count has
// to be what we send, and we send default-alphabet GSM7 or UCS-2.
//
// Empty text is one (empty) GSM7 part, which is what an SMSC bills. The only
// error is ErrInvalidUTF8.
//
// The counting is our own pure function over runes rather than
// warthog618/sms.Encode, which builds full TPDUs (maps, byte slices, a
// struct per part) just to be counted and treats a literal U+001B in the
// text as a GSM escape; the tests check this against warthog618/sms on
// every boundary and under fuzzing.
func Segments(text string) (int, string, error) {
	if !utf8.ValidString(text) {
		return 0, "", fmt.Errorf("segments: %w", ErrInvalidUTF8)
	}
	gsm, septets, units := measure(text)
	if gsm {
		if septets <= gsm7Single {
			return 1, GSM7, nil
		}
		return countParts(text, true), GSM7, nil
	}
	if units <= ucs2Single {
		return 1, UCS2, nil
	}
	return countParts(text, false), UCS2, nil
}

// SplitParts returns the texts of the parts Segments counts, in order, so
// that tests, previews and an SMPP client that sends parts itself cut the
// message exactly where the count says. Concatenating the parts gives text
// back; len(SplitParts(t)) equals the parts of Segments(t) for valid UTF-8.
// Empty text gives one empty part. Bytes that are not UTF-8 are kept as
// they are and counted as one UCS-2 unit each (what U+FFFD would take).
func SplitParts(text string) []string {
	gsm, septets, units := measure(text)
	if (gsm && septets <= gsm7Single) || (!gsm && units <= ucs2Single) {
		return []string{text}
	}
	parts := make([]string, 0, countParts(text, gsm))
	for start := 0; start < len(text); {
		end := partEnd(text, start, gsm)
		parts = append(parts, text[start:end])
		start = end
	}
	return parts
}

// IsGSM reports whether every character of text is in the GSM 03.38 default
// alphabet or its default extension table, i.e. whether it is sent as GSM7.
func IsGSM(text string) bool {
	for _, r := range text {
		if gsmSeptets(r) == 0 {
			return false
		}
	}
	return true
}

// measure returns whether text is all GSM7, its length in septets (only
// meaningful when it is) and its length in UTF-16 units, in one pass.
func measure(text string) (gsm bool, septets, units int) {
	gsm = true
	for _, r := range text {
		if gsm {
			if n := gsmSeptets(r); n == 0 {
				gsm = false
			} else {
				septets += n
			}
		}
		units += utf16Units(r)
	}
	return gsm, septets, units
}

// countParts counts the concatenated parts of a text already known to need
// more than one.
func countParts(text string, gsm bool) int {
	n := 0
	for start := 0; start < len(text); n++ {
		start = partEnd(text, start, gsm)
	}
	return n
}

// partEnd returns the byte offset where the concatenated part starting at
// start ends: the longest run of whole characters that fits in a part. A
// character that does not fit whole (an escape sequence, a surrogate pair)
// starts the next part, as on a handset.
func partEnd(text string, start int, gsm bool) int {
	capacity, used := ucs2Part, 0
	if gsm {
		capacity = gsm7Part
	}
	for i, r := range text[start:] {
		n := 0
		if gsm {
			n = gsmSeptets(r)
		} else {
			n = utf16Units(r)
		}
		if used+n > capacity {
			return start + i
		}
		used += n
	}
	return len(text)
}

// utf16Units is the number of UTF-16 code units r takes: 2 for a surrogate
// pair. An invalid byte decodes as U+FFFD, one unit.
func utf16Units(r rune) int {
	if r >= 0x10000 {
		return 2
	}
	return 1
}

// GSM 03.38 (3GPP TS 23.038 §6.2.1) default alphabet in septet order, and
// the characters of its default extension table (sent as ESC + code). The
// ESC septet 0x1B itself is not a character: a literal U+001B in a text is
// not GSM (it would escape whatever follows), so it is left out.
const (
	gsmDefaultAlphabet = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ" + "ÆæßÉ" +
		" !\"#¤%&'()*+,-./0123456789:;<=>?" +
		"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§" +
		"¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsmExtension = "\f^{}\\[~]|€"
)

// asciiSeptets maps each ASCII rune to its GSM7 length: 0 (not GSM, e.g. `
// or a control character other than LF, CR, FF), 1 or 2 (extension).
var asciiSeptets = func() (t [utf8.RuneSelf]uint8) {
	for _, r := range gsmDefaultAlphabet {
		if r < utf8.RuneSelf {
			t[r] = 1
		}
	}
	for _, r := range gsmExtension {
		if r < utf8.RuneSelf {
			t[r] = 2
		}
	}
	return t
}()

// gsmSeptets returns how many septets r takes in GSM7: 1 in the default
// alphabet, 2 in the extension table, 0 when r is not GSM at all.
func gsmSeptets(r rune) int {
	if r < utf8.RuneSelf {
		return int(asciiSeptets[r])
	}
	switch r {
	case '£', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', 'Ø', 'ø', 'Å', 'å',
		'Δ', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ',
		'Æ', 'æ', 'ß', 'É', '¤', '¡', 'Ä', 'Ö', 'Ñ', 'Ü', '§', '¿',
		'ä', 'ö', 'ñ', 'ü', 'à':
		return 1
	case '€':
		return 2
	}
	return 0
}
