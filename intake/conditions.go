package intake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers/v2"

	"github.com/smsfleet/smsfleet/internal/store"
)

// Tag conditions: createMessage's "conditions" targets the application's
// registered SMS devices by their tags, as Pushwoosh documents them. Each
// condition is [tagName, operator, operand]; conditions_operator combines
// them ("AND", the default, or "OR"). Operators and operands follow
// Pushwoosh's tag-condition rules
// (https://pushwoosh.readme.io/reference/createemailmessage, "Tag
// conditions"; createMessage takes the same conditions,
// https://docs.pushwoosh.com/developer/api-reference/messages-api/):
//
//	EQ, NOTEQ        the tag equals / does not equal the operand
//	IN, NOTIN        the tag (a list tag: any of its values) is / is not one of the operand array
//	GTE, LTE         the tag is ≥ / ≤ the operand (numbers, or dates "YYYY-MM-DD HH:mm")
//	BETWEEN          min ≤ tag ≤ max, operand [min, max]
//	NOTSET, ANY      the tag is not set / is set to anything (no operand)
//
// Where Pushwoosh leaves a case open, smsfleet picks the answer that
// sends to fewer people: a device without the tag matches only NOTSET (not
// NOTEQ or NOTIN), and a comparison between kinds that do not compare (a
// number against a word) is false. Two built-in tags read the device
// itself: "Language" (its language, compared case-insensitively) and
// "Country" (the ISO 3166 region of its number, e.g. "GB").

// Built-in tags.
const (
	tagLanguage = "Language"
	tagCountry  = "Country"
)

// condOp is a tag-condition operator.
type condOp string

const (
	opEQ      condOp = "EQ"
	opNOTEQ   condOp = "NOTEQ"
	opIN      condOp = "IN"
	opNOTIN   condOp = "NOTIN"
	opGTE     condOp = "GTE"
	opLTE     condOp = "LTE"
	opBETWEEN condOp = "BETWEEN"
	opNOTSET  condOp = "NOTSET"
	opANY     condOp = "ANY"
)

// condition is one validated [tagName, operator, operand].
type condition struct {
	tag     string
	op      condOp
	operand []json.RawMessage // one value, the array's values, or none
}

// targeting is a notification's validated conditions.
type targeting struct {
	conds []condition
	or    bool
}

// tags returns the tag names the conditions read (the device fields to
// load), built-in ones included.
func (t targeting) tags() []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range t.conds {
		if !seen[c.tag] {
			seen[c.tag] = true
			out = append(out, c.tag)
		}
	}
	return out
}

// maxConditions bounds one notification's conditions.
const maxConditions = 50

// parseTargeting validates conditions and conditions_operator. field is
// the notification's ("notifications[0]").
func parseTargeting(raw json.RawMessage, operator, field string) (targeting, error) {
	var t targeting
	switch strings.ToUpper(operator) {
	case "", "AND":
	case "OR":
		t.or = true
	default:
		return t, argError(field+".conditions_operator", `must be "AND" or "OR", got %q`, operator)
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return t, argError(field+".conditions", "must be an array of [tagName, operator, operand] conditions")
	}
	if len(list) > maxConditions {
		return t, argError(field+".conditions", "at most %d conditions, got %d", maxConditions, len(list))
	}
	for i, item := range list {
		c, err := parseCondition(item, fmt.Sprintf("%s.conditions[%d]", field, i))
		if err != nil {
			return t, err
		}
		t.conds = append(t.conds, c)
	}
	return t, nil
}

// parseCondition validates one [tagName, operator, operand].
func parseCondition(raw json.RawMessage, field string) (condition, error) {
	var parts []json.RawMessage
	if err := json.Unmarshal(raw, &parts); err != nil || len(parts) < 2 || len(parts) > 3 {
		return condition{}, argError(field, "must be [tagName, operator, operand] (NOTSET and ANY take no operand)")
	}
	var c condition
	var op string
	if json.Unmarshal(parts[0], &c.tag) != nil || c.tag == "" || len(c.tag) > maxTagName {
		return condition{}, argError(field, "the tag name must be a string of 1 to %d bytes", maxTagName)
	}
	if json.Unmarshal(parts[1], &op) != nil {
		return condition{}, argError(field, "the operator must be a string")
	}
	c.op = condOp(strings.ToUpper(op))
	var operand json.RawMessage
	if len(parts) == 3 {
		operand = parts[2]
	}
	if err := c.checkOperand(operand, field); err != nil {
		return condition{}, err
	}
	return c, nil
}

// checkOperand validates the operand for the operator and keeps it.
func (c *condition) checkOperand(operand json.RawMessage, field string) error {
	switch c.op {
	case opNOTSET, opANY:
		if operand != nil && string(operand) != "null" {
			return argError(field, "%s takes no operand", c.op)
		}
		return nil
	case opEQ, opNOTEQ, opGTE, opLTE:
		if operand == nil || !scalar(operand) {
			return argError(field, "%s needs a string, number or boolean operand", c.op)
		}
		if relativeDate(operand) {
			return argError(field, "relative dates (\"N days ago\") are not supported; give \"YYYY-MM-DD HH:mm\" or a Unix timestamp")
		}
		c.operand = []json.RawMessage{operand}
		return nil
	case opIN, opNOTIN, opBETWEEN:
		var vals []json.RawMessage
		if operand == nil || json.Unmarshal(operand, &vals) != nil || len(vals) == 0 {
			return argError(field, "%s needs an array operand", c.op)
		}
		for _, v := range vals {
			if !scalar(v) {
				return argError(field, "%s: the operand array must hold strings, numbers or booleans", c.op)
			}
			if relativeDate(v) {
				return argError(field, "relative dates (\"N days ago\") are not supported; give \"YYYY-MM-DD HH:mm\" or a Unix timestamp")
			}
		}
		if c.op == opBETWEEN && len(vals) != 2 {
			return argError(field, "BETWEEN needs [min, max], got %d values", len(vals))
		}
		c.operand = vals
		return nil
	}
	return argError(field, "unknown operator %q (EQ, NOTEQ, IN, NOTIN, GTE, LTE, BETWEEN, NOTSET, ANY)", string(c.op))
}

// relativeDate reports an operand like "3 days ago", which Pushwoosh
// accepts for date tags and smsfleet does not: compared as text it would
// match the wrong devices.
func relativeDate(v json.RawMessage) bool {
	s, ok := stringOf(v)
	return ok && strings.HasSuffix(strings.ToLower(strings.TrimSpace(s)), "days ago")
}

// scalar reports whether v is a JSON string, number or boolean.
func scalar(v json.RawMessage) bool {
	t := bytes.TrimSpace(v)
	if len(t) == 0 {
		return false
	}
	switch t[0] {
	case '"', 't', 'f', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return true
	}
	return false
}

// candidate is what a condition is checked against: one device's tags
// (JSON values by name) and its built-in values.
type candidate struct {
	phone    string
	language string
	tags     map[string]json.RawMessage
}

// match reports whether the device satisfies the conditions.
func (t targeting) match(d candidate) bool {
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
func (c condition) match(d candidate) bool {
	values, set := d.values(c.tag)
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

// values returns a tag's values (a list tag's items, else its one value),
// and whether the device has the tag at all.
func (d candidate) values(tag string) ([]json.RawMessage, bool) {
	switch tag {
	case tagLanguage:
		if d.language == "" {
			return nil, false
		}
		v, _ := json.Marshal(d.language)
		return []json.RawMessage{v}, true
	case tagCountry:
		region := regionOf(d.phone)
		if region == "" {
			return nil, false
		}
		v, _ := json.Marshal(region)
		return []json.RawMessage{v}, true
	}
	raw, ok := d.tags[tag]
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

// targetDevices walks the application's devices a batch at a time
// (store.ScanDevices) and returns those matching t, sorted; with no
// conditions, every device (a broadcast). It stops with a 210 as soon as
// the matches pass MaxRecipients, so a broadcast to a huge application
// fails fast rather than after reading every device.
func (a *API) targetDevices(ctx context.Context, app, field string, t targeting) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	err := a.Store.ScanDevices(ctx, app, t.tags(), func(batch []store.DeviceFields) error {
		for _, d := range batch {
			if seen[d.Phone] || !t.match(candidate{phone: d.Phone, language: d.Language, tags: d.Tags}) {
				continue
			}
			seen[d.Phone] = true
			out = append(out, d.Phone)
			if len(out) > a.MaxRecipients {
				return argError(field+".conditions", "match more than the maximum of %d recipients", a.MaxRecipients)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(out)
	return out, nil
}
