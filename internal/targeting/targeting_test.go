package targeting

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestParseTargetingRefusesBadConditions: each malformed condition is a
// 210 naming the condition and saying what is wrong.
func TestParseTargetingRefusesBadConditions(t *testing.T) {
	tests := []struct{ raw, op, err string }{
		{`{"a":1}`, "", "n.conditions: must be an array of [tagName, operator, operand] conditions"},
		{`[["City"]]`, "", "n.conditions[0]: must be [tagName, operator, operand]"},
		{`[["City","EQ","x","y"]]`, "", "n.conditions[0]: must be [tagName, operator, operand]"},
		{`[[1,"EQ","x"]]`, "", "n.conditions[0]: the tag name must be a string"},
		{`[["City","LIKE","Lon%"]]`, "", `n.conditions[0]: unknown operator "LIKE" (EQ, NOTEQ, IN, NOTIN, GTE, LTE, BETWEEN, NOTSET, ANY)`},
		{`[["City","EQ",["a"]]]`, "", "n.conditions[0]: EQ needs a string, number or boolean operand"},
		{`[["City","IN","London"]]`, "", "n.conditions[0]: IN needs an array operand"},
		{`[["Age","BETWEEN",[1,2,3]]]`, "", "n.conditions[0]: BETWEEN needs [min, max], got 3 values"},
		{`[["City","NOTSET","x"]]`, "", "n.conditions[0]: NOTSET takes no operand"},
		{`[["Seen","GTE","3 days ago"]]`, "", `n.conditions[0]: relative dates ("N days ago") are not supported`},
		{`[["City","IN",[{"a":1}]]]`, "", "n.conditions[0]: IN: the operand array must hold strings, numbers or booleans"},
		{`[]`, "XOR", `n.conditions_operator: must be "AND" or "OR", got "XOR"`},
	}
	for _, tt := range tests {
		_, err := Parse(json.RawMessage(tt.raw), tt.op, "n")
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("Parse(%s, %q) = %v, want an error with %q", tt.raw, tt.op, err, tt.err)
		}
	}
	if _, err := Parse(json.RawMessage(`[`+strings.Repeat(`["a","ANY"],`, MaxConditions)+`["a","ANY"]]`), "", "n"); err == nil ||
		!strings.Contains(err.Error(), "at most 50 conditions, got 51") {
		t.Errorf("51 conditions: %v", err)
	}
}

// TestTargetingMatch: every operator against string, number, boolean,
// list and date tags, the built-in Language and Country, missing tags
// (matched only by NOTSET) and AND/OR.
func TestTargetingMatch(t *testing.T) {
	london := Device{Phone: "+447400123456", Language: "en", Tags: map[string]json.RawMessage{
		"City": json.RawMessage(`"London"`), "Age": json.RawMessage(`34`), "VIP": json.RawMessage(`true`),
		"Interests": json.RawMessage(`["golf","tea"]`), "Joined": json.RawMessage(`"2024-05-01 10:00"`), "Code": json.RawMessage(`"007"`),
	}}
	paris := Device{Phone: "+33612345678", Language: "fr", Tags: map[string]json.RawMessage{
		"City": json.RawMessage(`"Paris"`), "Age": json.RawMessage(`"19"`), "VIP": json.RawMessage(`false`),
	}}
	tests := []struct {
		conds, op     string
		london, paris bool
	}{
		{`[["City","EQ","London"]]`, "", true, false},
		{`[["City","EQ","london"]]`, "", false, false}, // tags compare exactly
		{`[["City","NOTEQ","London"]]`, "", false, true},
		{`[["City","IN",["Paris","Rome"]]]`, "", false, true},
		{`[["City","NOTIN",["Paris","Rome"]]]`, "", true, false},
		{`[["Age","GTE",21]]`, "", true, false}, // "19" is a number held in a string
		{`[["Age","LTE",21]]`, "", false, true},
		{`[["Age","BETWEEN",[18,30]]]`, "", false, true},
		{`[["Age","EQ",34]]`, "", true, false},
		{`[["Age","EQ","thirty"]]`, "", false, false}, // a word never equals a number
		{`[["Age","GTE","thirty"]]`, "", false, false},
		{`[["VIP","EQ",true]]`, "", true, false},
		{`[["VIP","EQ",0]]`, "", false, true},
		{`[["Interests","IN",["tea"]]]`, "", true, false},
		{`[["Interests","NOTIN",["tea"]]]`, "", false, false}, // Paris has no Interests: only NOTSET matches a missing tag
		{`[["Interests","NOTSET"]]`, "", false, true},
		{`[["Interests","ANY"]]`, "", true, false},
		{`[["Joined","GTE","2024-01-01 00:00"]]`, "", true, false},
		{`[["Code","EQ",7]]`, "", true, false},
		{`[["Language","EQ","EN"]]`, "", true, false},
		{`[["Country","IN",["fr","de"]]]`, "", false, true},
		{`[["Country","EQ","GB"],["Age","GTE",30]]`, "", true, false},
		{`[["City","EQ","Rome"],["VIP","EQ",false]]`, "OR", false, true},
		{`[["City","EQ","Rome"],["VIP","EQ",false]]`, "AND", false, false},
		{`[]`, "", true, true},
	}
	for _, tt := range tests {
		tg, err := Parse(json.RawMessage(tt.conds), tt.op, "n")
		if err != nil {
			t.Fatalf("%s: %v", tt.conds, err)
		}
		if got := tg.Match(london); got != tt.london {
			t.Errorf("%s %s on London = %v, want %v", tt.conds, tt.op, got, tt.london)
		}
		if got := tg.Match(paris); got != tt.paris {
			t.Errorf("%s %s on Paris = %v, want %v", tt.conds, tt.op, got, tt.paris)
		}
	}
}

// TestEncodeDecode: what the intake stores is what the dispatch evaluates:
// the same matches after a round trip, for AND, OR and a broadcast (no
// conditions, matching everyone); a stored value that no longer parses is
// an error, never "match everyone".
func TestEncodeDecode(t *testing.T) {
	dev := Device{Phone: "+447400123456", Tags: map[string]json.RawMessage{"City": json.RawMessage(`"London"`)}}
	tests := []struct {
		conds, op string
		want      bool
	}{
		{`[["City","EQ","London"]]`, "", true},
		{`[["City","EQ","Rome"],["Country","EQ","GB"]]`, "OR", true},
		{`[["City","EQ","Rome"],["Country","EQ","GB"]]`, "AND", false},
	}
	for _, tt := range tests {
		tg, err := Parse(json.RawMessage(tt.conds), tt.op, "n")
		if err != nil {
			t.Fatal(err)
		}
		back, err := Decode(tg.Encode())
		if err != nil {
			t.Fatalf("%s: %v", tg.Encode(), err)
		}
		if back.Match(dev) != tt.want || tg.Match(dev) != tt.want {
			t.Errorf("%s %s: match %v after the round trip, want %v", tt.conds, tt.op, back.Match(dev), tt.want)
		}
	}
	all, err := Decode(Targeting{}.Encode())
	if err != nil || !all.Match(Device{Phone: "+33612345678"}) {
		t.Errorf("broadcast round trip: %v, want a match of every device", err)
	}
	for _, bad := range []string{``, `{`, `{"conditions":[["City","LIKE","x"]]}`} {
		if _, err := Decode(bad); err == nil {
			t.Errorf("Decode(%q) = nil error", bad)
		}
	}
}
