package store

// The plain layout's key names, for tests that look at Redis directly.
var plainKeys = newKeyspace(PlainLayout)

func msgKey(code string) string                { return plainKeys.msg(code) }
func smsKey(id string) string                  { return plainKeys.sms(id) }
func msgListKey(app string) string             { return plainKeys.msgList(app) }
func attemptsKey(id string) string             { return plainKeys.attempts(id) }
func refKey(prov, ref string) string           { return plainKeys.ref(prov, ref) }
func txnKey(app, txn string) string            { return plainKeys.txn(app, txn) }
func deviceKey(app, phone string) string       { return plainKeys.device(app, phone) }
func optOutKey(app string) string              { return plainKeys.optOut(app) }
func optOutRecordKey(app, phone string) string { return plainKeys.optOutRecord(app, phone) }
