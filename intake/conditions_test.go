package intake

import (
	"context"
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
		_, err := parseTargeting(json.RawMessage(tt.raw), tt.op, "n")
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("parseTargeting(%s, %q) = %v, want an error with %q", tt.raw, tt.op, err, tt.err)
		}
	}
	if _, err := parseTargeting(json.RawMessage(`[`+strings.Repeat(`["a","ANY"],`, maxConditions)+`["a","ANY"]]`), "", "n"); err == nil ||
		!strings.Contains(err.Error(), "at most 50 conditions, got 51") {
		t.Errorf("51 conditions: %v", err)
	}
}

// TestTargetingMatch: every operator against string, number, boolean,
// list and date tags, the built-in Language and Country, missing tags
// (matched only by NOTSET) and AND/OR.
func TestTargetingMatch(t *testing.T) {
	london := candidate{phone: "+447400123456", language: "en", tags: map[string]json.RawMessage{
		"City": json.RawMessage(`"London"`), "Age": json.RawMessage(`34`), "VIP": json.RawMessage(`true`),
		"Interests": json.RawMessage(`["golf","tea"]`), "Joined": json.RawMessage(`"2024-05-01 10:00"`), "Code": json.RawMessage(`"007"`),
	}}
	paris := candidate{phone: "+33612345678", language: "fr", tags: map[string]json.RawMessage{
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
		tg, err := parseTargeting(json.RawMessage(tt.conds), tt.op, "n")
		if err != nil {
			t.Fatalf("%s: %v", tt.conds, err)
		}
		if got := tg.match(london); got != tt.london {
			t.Errorf("%s %s on London = %v, want %v", tt.conds, tt.op, got, tt.london)
		}
		if got := tg.match(paris); got != tt.paris {
			t.Errorf("%s %s on Paris = %v, want %v", tt.conds, tt.op, got, tt.paris)
		}
	}
}

// TestConditionsBadInputWritesNothing: through createMessage, a bad
// condition, conditions next to devices, and conditions_operator alone
// are each a 210 naming the field, and no message is written.
func TestConditionsBadInputWritesNothing(t *testing.T) {
	a, _ := planAPI(t)
	ctx := context.Background()
	tests := []struct{ n, err string }{
		{`{"send_date":"now","content":"hi","conditions":[["City","LIKE","L%"]]}`, `notifications[0].conditions[0]: unknown operator "LIKE"`},
		{`{"send_date":"now","content":"hi","conditions":[["City","EQ","London"]],"devices":["` + p1 + `"]}`, "notifications[0].conditions: cannot be combined with devices or users"},
		{`{"send_date":"now","content":"hi","devices":["` + p1 + `"],"conditions_operator":"OR"}`, "notifications[0].conditions_operator: needs conditions"},
		{`{"send_date":"now","content":"hi","conditions":[["Age","BETWEEN",[1]]]}`, "notifications[0].conditions[0]: BETWEEN needs [min, max], got 1 values"},
	}
	for _, tt := range tests {
		_, err := a.createMessage(ctx, shop, json.RawMessage(`{"notifications":[`+tt.n+`]}`))
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: %v, want an error with %q", tt.n, err, tt.err)
		}
	}
	msgs, _, err := a.Store.ListMessages(ctx, shop, 10, 0)
	if err != nil || len(msgs) != 0 {
		t.Fatalf("%d messages written (%v), want none", len(msgs), err)
	}
}

// TestConditionsResolveAgainstDevices: planned against real devices, the
// conditions pick the matching ones (device tags and the built-in
// Country), sorted.
func TestConditionsResolveAgainstDevices(t *testing.T) {
	a, _ := planAPI(t) // p1 (ann), p2 (ann), p3 (bob): German numbers
	ctx := context.Background()
	if err := a.Store.SetTags(ctx, shop, p2, map[string]json.RawMessage{"City": json.RawMessage(`"London"`)}); err != nil {
		t.Fatal(err)
	}
	p, err := a.planNotification(ctx, shop, "n", json.RawMessage(`{"send_date":"now","content":"hi","conditions":[["City","EQ","London"],["Country","EQ","DE"]]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.audiences[0].Phones; len(got) != 1 || got[0] != p2 {
		t.Fatalf("conditions resolved to %v, want [%s]", got, p2)
	}
	if _, err := a.planNotification(ctx, shop, "n", json.RawMessage(`{"send_date":"now","content":"hi","conditions":[["City","EQ","Rome"]]}`)); err != nil {
		t.Fatalf("no match: %v, want an accepted message with no recipients", err)
	}
}
