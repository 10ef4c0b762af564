package quota

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/smsfleet/smsfleet/internal/config"
)

// TestWarningMatchesItsSchema: the records Warner produces, for each kind
// of quota, validate against docs/events/quota-warning.schema.json.
func TestWarningMatchesItsSchema(t *testing.T) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	sch, err := c.Compile("../../docs/events/quota-warning.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	w := &Warner{Currency: "EUR"}
	at := time.Date(2026, 2, 28, 23, 59, 59, 0, time.UTC)
	for k := range config.NumQuotas {
		wn := Warning{App: "SHOP1-00001", Quota: k, Period: periodOf(k, at), Limit: 2_500_000, Threshold: 2_000_000, WarnPercent: 80, At: at, PeriodEnd: PeriodEnd(k, at)}
		m, err := w.record(wn)
		if err != nil {
			t.Fatal(err)
		}
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(m.Value))
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(v); err != nil {
			t.Errorf("%s: %s does not match the schema: %v", k, m.Value, err)
		}
	}
	// The schema refuses what it should (it is not everything-goes).
	bad, _ := json.Marshal(map[string]any{"id": "x", "application": "SHOP1-00001"})
	v, _ := jsonschema.UnmarshalJSON(bytes.NewReader(bad))
	if sch.Validate(v) == nil {
		t.Error("the schema accepts a record without its required fields")
	}
}
