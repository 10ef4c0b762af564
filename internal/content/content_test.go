package content

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParseAndPick(t *testing.T) {
	tests := []struct {
		name, raw, lang, want, wantErr string
	}{
		{"plain string", `"Hello"`, "de", "Hello", ""},
		{"exact language", `{"en":"Hello","de":"Hallo"}`, "de", "Hallo", ""},
		{"language case", `{"en":"Hello","DE":"Hallo"}`, "de", "Hallo", ""},
		{"region falls back to base", `{"en":"Hello","de":"Hallo"}`, "de-AT", "Hallo", ""},
		{"underscore region", `{"en":"Hello","pt":"Olá"}`, "pt_BR", "Olá", ""},
		{"default before en", `{"en":"Hello","default":"Hi","de":"Hallo"}`, "fr", "Hi", ""},
		{"en before first", `{"de":"Hallo","en":"Hello"}`, "fr", "Hello", ""},
		{"the first otherwise", `{"de":"Hallo","fr":"Salut"}`, "es", "Hallo", ""},
		{"no device language", `{"de":"Hallo","en":"Hello"}`, "", "Hello", ""},
		{"null", `null`, "", "", "required"},
		{"empty string", `"  "`, "", "", "must not be empty"},
		{"number", `42`, "", "", "must be a string or an object"},
		{"empty object", `{}`, "", "", "no language"},
		{"non-string text", `{"en": 5}`, "", "", ".en: must be a string"},
		{"empty text", `{"en":"Hi","de":""}`, "", "", ".de: must not be empty"},
		{"duplicate language", `{"en":"Hi","EN":"Hey"}`, "", "", ".EN: given twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Parse(json.RawMessage(tt.raw))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := l[l.For(tt.lang)].Text; got != tt.want {
				t.Fatalf("For(%q) = %q, want %q", tt.lang, got, tt.want)
			}
			again, err := Parse(json.RawMessage(l.JSON()))
			if err != nil || len(again) != len(l) || again[0] != l[0] {
				t.Fatalf("JSON round trip: %s -> %v %v", l.JSON(), again, err)
			}
		})
	}
}
