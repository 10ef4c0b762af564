package sms

import (
	"strings"
	"testing"
)

func TestSegments(t *testing.T) {
	tests := []struct {
		name, text string
		parts      int
		enc        string
	}{
		{"empty", "", 1, GSM7},
		{"short gsm", "Your code is 4711", 1, GSM7},
		{"160 gsm fits one", strings.Repeat("a", 160), 1, GSM7},
		{"161 gsm needs two", strings.Repeat("a", 161), 2, GSM7},
		{"306 gsm is two parts of 153", strings.Repeat("a", 306), 2, GSM7},
		{"307 gsm is three", strings.Repeat("a", 307), 3, GSM7},
		{"extension chars count two", strings.Repeat("€", 80), 1, GSM7},
		{"81 euro signs overflow", strings.Repeat("€", 81), 2, GSM7},
		{"70 ucs2 fits one", strings.Repeat("ж", 70), 1, UCS2},
		{"71 ucs2 needs two", strings.Repeat("ж", 71), 2, UCS2},
		{"one emoji forces ucs2", "Hi 😀", 1, UCS2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts, enc, err := Segments(tt.text)
			if err != nil || parts != tt.parts || enc != tt.enc {
				t.Fatalf("Segments = %d %s %v, want %d %s", parts, enc, err, tt.parts, tt.enc)
			}
		})
	}
}
