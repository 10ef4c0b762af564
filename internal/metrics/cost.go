package metrics

// Cost is what the SMS sent cost, in the currency of the configuration's
// prices (prices.currency), by provider and destination country: counted
// once per SMS, when its move to sent is recorded.
var Cost = counterVec("smsfleet_sms_cost_total", "Cost of the SMS sent, in the configured currency, by provider and destination country.",
	"provider", "country")
