package intake

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
)

// A notification field smsfleet does not implement is refused, not
// skipped: a skipped targeting field ("conditions", "filter", a segment)
// would send to more people than the caller asked for (issue 16). Fields
// that only shape a push notification's look on a device are accepted
// and ignored, so a Pushwoosh client that sends its defaults keeps
// working; README "createMessage fields" lists both.

// ignoredFields are Pushwoosh createMessage fields that mean nothing for
// an SMS and never change who receives it.
var ignoredFields = map[string]bool{
	"title": true, "subtitle": true, "link": true, "minimize_link": true, "data": true,
	"page_id": true, "rich_media": true, "remote_page": true, "inbox_date": true, "inbox_image": true,
	"inbox_days": true, "voip": true, "push_token": true, "campaign": true,
}

// ignoredPrefixes are Pushwoosh's per-platform push options
// (ios_badges, android_icon, chrome_title, ...).
var ignoredPrefixes = []string{
	"ios_", "android_", "huawei_", "chrome_", "safari_", "firefox_", "wns_", "adm_", "mac_", "amazon_", "windows_", "edge_",
}

// notificationFields is every field the notification struct reads.
var notificationFields = jsonFields(reflect.TypeOf(notification{}))

// jsonFields returns the JSON names of a struct's fields.
func jsonFields(t reflect.Type) map[string]bool {
	out := map[string]bool{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out[name] = true
		}
	}
	return out
}

// ignoredField reports whether name is accepted and ignored.
func ignoredField(name string) bool {
	if ignoredFields[name] {
		return true
	}
	for _, p := range ignoredPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// checkFields refuses a notification with a field smsfleet neither
// implements nor ignores on purpose, naming the first such field (in
// sorted order, so the answer is the same on every call). raw has already
// decoded into a notification, so it is an object.
func checkFields(raw json.RawMessage, field string) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return argErrorFromJSON(err, field)
	}
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !notificationFields[name] && !ignoredField(name) {
			return argError(field+"."+name, "is not supported by smsfleet, so the notification was not sent "+
				"(remove the field; README \"createMessage fields\" lists what is supported and what is accepted and ignored)")
		}
	}
	return nil
}
