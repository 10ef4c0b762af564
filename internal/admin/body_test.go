package admin

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestBearer(t *testing.T) {
	tests := []struct{ header, want string }{
		{"Bearer abc", "abc"},
		{"bearer  abc ", "abc"},
		{"Token abc", "abc"},
		{"Basic abc", ""},
		{"abc", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := bearer(tt.header); got != tt.want {
			t.Errorf("bearer(%q) = %q, want %q", tt.header, got, tt.want)
		}
	}
	if equal("", "") || equal("x", "") || !equal("tok", "tok") || equal("tok", "tok2") {
		t.Fatal("equal: an empty expected token must match nothing, others only themselves")
	}
}

func TestReadObject(t *testing.T) {
	tests := []struct {
		body, field, says string
	}{
		{`{"drained":true}`, "", ""},
		{`{"drained":true,"weight":3}`, "", ""},
		{`{"drainage":true}`, "drainage", "unknown field"},
		{`{"drained":`, "", "malformed JSON"},
		{`null`, "", "malformed JSON"},
		{`"x"`, "", "malformed JSON"},
		{`{} {}`, "", "trailing data"},
		{`{"weight":"` + strings.Repeat("9", maxBody) + `"}`, "", "larger than"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
		_, err := readObject(r, "drained", "weight")
		switch {
		case tt.says == "" && err != nil:
			t.Errorf("%s: refused: %+v", tt.body, err)
		case tt.says != "" && (err == nil || err.field != tt.field || !strings.Contains(err.msg, tt.says)):
			t.Errorf("%.40s: %+v, want field %q saying %q", tt.body, err, tt.field, tt.says)
		}
	}
}

func TestIntIn(t *testing.T) {
	tests := []struct {
		raw  string
		want int
		ok   bool
	}{
		{"0", 0, true}, {"1000", 1000, true}, {"1001", 0, false}, {"-1", 0, false},
		{"2.5", 0, false}, {"1e2", 100, true}, {`"5"`, 0, false}, {"null", 0, false},
	}
	for _, tt := range tests {
		got, ok := intIn([]byte(tt.raw), 0, 1000)
		if got != tt.want || ok != tt.ok {
			t.Errorf("intIn(%s) = %d %v, want %d %v", tt.raw, got, ok, tt.want, tt.ok)
		}
	}
}
