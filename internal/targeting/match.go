package targeting

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers/v2"
)

// Device is what a condition is checked against: one device's tags
// (JSON values by name) and its built-in values.
type Device struct {
	Phone    string
	Language string
	Tags     map[string]json.RawMessage
}

// Match reports whether the device satisfies the conditions.
func (t Targeting) Match(d Device) bool {
	if len(t.conds) == 0 {
		return true
	}
	for _, c := range t.conds {
		ok := c.match(d)
		if t.or && ok {
			return true
		}
		if !t.or && !ok {
			return false
		}
	}
	return !t.or
}

// match checks one condition.
func (c condition) match(d Device) bool {
	values, set := tagValues(d, c.tag)
	switch c.op {
	case opNOTSET:
		return !set
	case opANY:
		return set
	}
	if !set {
		return false
	}
	fold := c.tag == tagLanguage || c.tag == tagCountry
	switch c.op {
	case opEQ:
		return anyEqual(values, c.operand[0], fold)
	case opNOTEQ:
		return !anyEqual(values, c.operand[0], fold)
	case opIN:
		return anyIn(values, c.operand, fold)
	case opNOTIN:
		return !anyIn(values, c.operand, fold)
	case opGTE:
		return anyCompare(values, c.operand[0], func(x int) bool { return x >= 0 })
	case opLTE:
		return anyCompare(values, c.operand[0], func(x int) bool { return x <= 0 })
	case opBETWEEN:
		return anyCompare(values, c.operand[0], func(x int) bool { return x >= 0 }) &&
			anyCompare(values, c.operand[1], func(x int) bool { return x <= 0 })
	}
	return false
}

// tagValues returns a tag's values (a list tag's items, else its one value),
// and whether the device has the tag at all.
func tagValues(d Device, tag string) ([]json.RawMessage, bool) {
	switch tag {
	case tagLanguage:
		if d.Language == "" {
			return nil, false
		}
		v, _ := json.Marshal(d.Language)
		return []json.RawMessage{v}, true
	case tagCountry:
		region := regionOf(d.Phone)
		if region == "" {
			return nil, false
		}
		v, _ := json.Marshal(region)
		return []json.RawMessage{v}, true
	}
	raw, ok := d.Tags[tag]
	if !ok || string(raw) == "null" {
		return nil, false
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		return list, len(list) > 0
	}
	return []json.RawMessage{raw}, true
}

// regionOf is the ISO 3166 region of an E.164 number, or "".
func regionOf(phone string) string {
	num, err := phonenumbers.Parse(phone, "")
	if err != nil {
		return ""
	}
	return phonenumbers.GetRegionCodeForNumber(num)
}

func anyEqual(values []json.RawMessage, operand json.RawMessage, fold bool) bool {
	for _, v := range values {
		if equal(v, operand, fold) {
			return true
		}
	}
	return false
}

func anyIn(values, operands []json.RawMessage, fold bool) bool {
	for _, o := range operands {
		if anyEqual(values, o, fold) {
			return true
		}
	}
	return false
}

// anyCompare reports whether some value compares to the operand as ok
// wants (ok gets -1, 0 or 1); values that do not compare count as false.
func anyCompare(values []json.RawMessage, operand json.RawMessage, ok func(int) bool) bool {
	for _, v := range values {
		if c, comparable := compare(v, operand); comparable && ok(c) {
			return true
		}
	}
	return false
}

// equal compares a tag value with an operand: booleans with
// 0/1/true/false, numbers by value (a string holding a number counts as
// that number), strings exactly (case-insensitively for built-in tags).
func equal(v, operand json.RawMessage, fold bool) bool {
	if b, ok := boolOf(v); ok {
		if ob, ok := boolOf(operand); ok {
			return b == ob
		}
		n, ok := numberOf(operand)
		return ok && (n == 0 || n == 1) && b == (n == 1)
	}
	if a, ok := numberOf(v); ok {
		b, ok := numberOf(operand)
		return ok && a == b
	}
	s1, ok1 := stringOf(v)
	s2, ok2 := stringOf(operand)
	if !ok1 || !ok2 {
		return false
	}
	if fold {
		return strings.EqualFold(s1, s2)
	}
	return s1 == s2
}

// compare orders a tag value against an operand: both numbers (or
// strings holding numbers), or both strings (dates written "YYYY-MM-DD
// HH:mm" order as text). comparable is false otherwise.
func compare(v, operand json.RawMessage) (c int, comparable bool) {
	if a, ok := numberOf(v); ok {
		if b, ok := numberOf(operand); ok {
			switch {
			case a < b:
				return -1, true
			case a > b:
				return 1, true
			}
			return 0, true
		}
		return 0, false
	}
	a, ok1 := stringOf(v)
	b, ok2 := stringOf(operand)
	if !ok1 || !ok2 {
		return 0, false
	}
	if _, numeric := numberOf(operand); numeric {
		return 0, false // a word against a number
	}
	return strings.Compare(a, b), true
}

func numberOf(v json.RawMessage) (float64, bool) {
	var f float64
	if json.Unmarshal(v, &f) == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
		return f, true
	}
	if s, ok := stringOf(v); ok {
		if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return f, true
		}
	}
	return 0, false
}

func stringOf(v json.RawMessage) (string, bool) {
	var s string
	return s, json.Unmarshal(v, &s) == nil
}

func boolOf(v json.RawMessage) (bool, bool) {
	var b bool
	return b, json.Unmarshal(v, &b) == nil
}
