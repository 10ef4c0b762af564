package config

import (
	"strings"
	"testing"
)

// TestQuotasResolve: the file's quotas are read per application, counts
// as whole numbers, money as exact millionths, warn_percent defaulting to
// 80; an application without quotas has none.
func TestQuotasResolve(t *testing.T) {
	c, err := loadWithFile(t, `prices: {currency: EUR, providers: {simulator: {"*": "0.05"}}}
applications:
  - code: QUOTA-00001
    server_token: quota-server-token
    quotas:
      sms_per_day: {limit: 1000}
      sms_per_month: {limit: "20000", warn_percent: 90}
      segments_per_day: {limit: 2500, warn_percent: 100}
      money_per_month: {limit: "900.50"}
  - {code: PLAIN-00002, server_token: plain-server-token}
`, map[string]string{"SMSFLEET_SIMULATOR_URL": "http://127.0.0.1:1", "SMSFLEET_SIMULATOR_SECRET": "s"})
	if err != nil {
		t.Fatal(err)
	}
	q := c.QuotasOf("QUOTA-00001")
	want := Quotas{
		SMSPerDay:      {Limit: 1000, WarnPercent: 80},
		SMSPerMonth:    {Limit: 20000, WarnPercent: 90},
		SegmentsPerDay: {Limit: 2500, WarnPercent: 100},
		MoneyPerMonth:  {Limit: 900_500_000, WarnPercent: 80},
	}
	if q != want {
		t.Errorf("quotas %+v, want %+v", q, want)
	}
	if c.QuotasOf("PLAIN-00002").Any() || c.QuotasOf("NOONE-00003").Any() {
		t.Error("an application without quotas has some")
	}
	if SMSPerDay.Monthly() || !MoneyPerMonth.Monthly() || !MoneyPerDay.Money() || SegmentsPerMonth.Money() || MoneyPerMonth.String() != "money_per_month" {
		t.Error("quota kinds")
	}
}

// TestQuotasBadConfig: each bad quota stops start-up naming the
// application and the field.
func TestQuotasBadConfig(t *testing.T) {
	const prices = `prices: {currency: EUR, providers: {simulator: {"*": "0.05"}}}
`
	for _, tc := range []struct {
		name, prices, quotas, want string
	}{
		{"zero", prices, `{sms_per_day: {limit: 0}}`, "quotas.sms_per_day.limit: 0 must be from 1"},
		{"negative", prices, `{segments_per_month: {limit: -5}}`, "quotas.segments_per_month.limit"},
		{"not a number", prices, `{sms_per_month: {limit: lots}}`, `quotas.sms_per_month.limit: "lots" is not a whole number`},
		{"fraction of an SMS", prices, `{sms_per_day: {limit: 1.5}}`, "quotas.sms_per_day.limit"},
		{"no limit", prices, `{sms_per_day: {warn_percent: 50}}`, "quotas.sms_per_day.limit: required"},
		{"warn over 100", prices, `{sms_per_day: {limit: 10, warn_percent: 120}}`, "quotas.sms_per_day.warn_percent: 120"},
		{"warn zero", prices, `{sms_per_day: {limit: 10, warn_percent: 0}}`, "quotas.sms_per_day.warn_percent: 0"},
		{"bad money", prices, `{money_per_month: {limit: "12,50"}}`, "quotas.money_per_month.limit"},
		{"zero money", prices, `{money_per_day: {limit: "0.00"}}`, "quotas.money_per_day.limit"},
		{"unknown quota", prices, `{sms_per_year: {limit: 10}}`, "sms_per_year"},
		{"money without prices", "", `{money_per_month: {limit: "100"}}`, "need prices"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadWithFile(t, tc.prices+`applications:
  - {code: QUOTA-00001, server_token: quota-server-token, quotas: `+tc.quotas+`}
`, map[string]string{"SMSFLEET_SIMULATOR_URL": "http://127.0.0.1:1", "SMSFLEET_SIMULATOR_SECRET": "s"})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if tc.name != "money without prices" && tc.name != "unknown quota" && !strings.Contains(err.Error(), "QUOTA-00001") {
				t.Errorf("error %v does not name the application", err)
			}
		})
	}
}
