// Package store keeps smsfleet's delivery state in Redis: devices and their
// tags, messages with their recipient lists and counters, one record per
// SMS, and the provider-reference index. Every status change goes through
// one Lua script that enforces the monotonic status machine and moves the
// message counters in the same atomic step (docs/decisions.md#4).
package store

// Key layout. Keys are short because a scheduled message's recipient list
// is paid for per recipient until it is due (docs/decisions.md#1). The
// table names the keys of the plain layout (one partition, not a cluster):
// the names every version before Redis Cluster support wrote; {x} stands
// for a value. The tagged layout inserts hash tags, braces written into
// the key, see after the constants and layout.go.
//
//	sf:d:{app}:{phone}   hash   device: u user, l language, tz, ct created, up updated, t:<tag> JSON value
//	sf:ds:{app}          set    registered phones of an application
//	sf:u:{app}:{user}    set    phones registered for a user id
//	sf:m:{code}          hash   message header, c:<status> counters, h:<action>:<YYYYMMDDHH> hourly counts
//	sf:mr:{code}:{i}     string recipient chunk i: E.164 numbers joined by "\n"
//	sf:mt:{code}         set    recipients a targeted message's dispatch has committed to chunks so far (dedupes SSCAN's repeats; deleted when its scan ends, else expires with the message) (targeted.go)
//	sf:ml:{app}          zset   the application's messages, scored by due time (ms×1000 + sequence mod 1000), trimmed past the retention
//	sf:mseq:{app}        string the per-application sequence (expires with the list)
//	sf:tx:{app}:{txn}    string message code of a transactionId (24 h)
//	sf:outbox            zset   message codes written but maybe not yet enqueued, scored by unix ms (one per partition)
//	sf:s:{id}            hash   one SMS: m code, to, st status, up updated ms, p provider, r ref, sg segments, e error, a attempts, fl provider of an attempt in flight
//	sf:sa:{id}           list   attempt history of one SMS: JSON records (provider, time, outcome)
//	sf:ref:{prov}:{ref}  string SMS id of a provider reference
//	sf:park:{prov}:{ref} string "status|code" of a receipt that came before its SMS was marked sent
//	sf:dw                zset   SMS ids in their delivery wait, scored by when it ends (unix ms) (one per partition)
//	sf:oc                stream outcome events waiting for the relay: id, st status, at unix ms (group "relay"), at most SMSFLEET_OUTCOMES_MAX in all (one per partition)
//	sf:pz                zset   parked receipts ("prov:ref") scored by when they are given up (unix ms) (one per partition)
//	sf:cnt               hash   fleet-wide counters: receipts_dropped, outcomes_trimmed (one per partition, summed)
//	sf:rq:{id}           string "app\ncode" of a getMsgStats request (1 h)
//	sf:oo:{app}          zset   phones with an opt-out in the application, scored by when the first was set (unix ms); a member without sf:or records is a legacy opt-out of the whole application (optouts.go)
//	sf:or:{app}:{phone}  hash   the phone's opt-out records: field "*" (every sender) or a sender id, value JSON {by: phone|api|legacy, at: unix ms, prov}
//	sf:ibu               stream replies to a sender no application sends from: at, prov, from, to, kw, id, text; at most UnmatchedMax entries and UnmatchedRetention
//	sf:ibi:{sf:ibu}      zset   ids of the replies in sf:ibu, scored by unix ms, so a redelivered one is kept once; bounded as sf:ibu (inbound.go)
//	sf:in:{app}:{id}     hash   one reply from a phone to the application: prov, from, to, text, at, kw, cb, ar; expires with the retention (inbound.go)
//	sf:il:{app}          zset   the application's reply ids by unix ms; trimmed past the retention, expires with it (inbound.go)
//	sf:ip:{app}:{phone}  zset   the application's reply ids from one phone by unix ms; trimmed past the retention, expires with it (inbound.go)
//	sf:at:{app}:{phone}:{kw} zset ids of the replies whose keyword (help, stop, start) was answered, by unix ms; at most the answer limit's max, expires a window after the last (answer_throttle.go)
//	sf:fc:{app}:{phone}  zset   marketing SMS ids sent to a phone, scored by unix ms (30 days)
//	sf:p:{app}:{code}    hash   preset: name, content (JSON), ct created
//	sf:pl:{app}          zset   the application's preset codes, scored by creation (unix ms)
//	sf:idkey             string the fleet's SMS id key (HMAC-SHA256), created once by the first process (docs/decisions.md#20)
//	sf:wh:{prov}:{id}    string a provider webhook already applied, by its replay id (webhook-id, or a Twilio sid); TTL per scheme (webhooks.go)
//	sf:layout            string the key layout the data was written with: plain/1 or tagged/<P> (layout.go)
//	sf:hp:{app}:{phone}  zset   SMS ids of an application to a phone, scored by when a worker first loaded them (unix ms); expires the number retention after its last SMS (history.go, privacy.go)
//	sf:hkey              string the Message History session key, created once by the first API process (history.go)
//	sf:cd:{YYYYMMDD}     hash   cost of the SMS sent that day (UTC) per application, in millionths of the currency (one per partition, summed; about 13 months: cost.go)
//	sf:qt:{app}:d:{YYYYMMDD} hash  what the application reserved of its quotas that UTC day: s SMS, g segments, c money (millionths); 3 days (internal/quota)
//	sf:qt:{app}:m:{YYYYMM}   hash   the same for the UTC month; 63 days (internal/quota)
//	sf:qv:{app}:{id}     string an SMS's quota reservation "YYYYMMDD|sms|segments|money", so a retry is not counted twice; 35 days (internal/quota)
//	sf:qw:{app}:{quota}:{period} string a quota warning claimed ("p", 2 min) or published ("s", until its period ends) (internal/quota)
//	sf:qf:{queue}        string a queue's replication fence on a Redis Cluster: written, then WAITed on, on the queue's master (queuefence.go; 1 min)
//	sf:mo:{prov:from:to:w:ref}  hash   parts of a long SMPP MO (w 8 or 16, the reference's width): n total, c coding, g parts held, p:<seq> user data, lk lease end (unix ms); then only done=1 once handed on; expires the MO timeout after its first part (moparts.go)
//	sf:px                zset   "t:<code>" (text) and "n:<code>" (a direct message's number) due for removal by their retention, scored by unix ms (one per partition; privacy.go)
//	sf:gp:{app}:{phone}  zset   OTP SMS ids sent to a phone, by unix ms; trimmed to the last hour, PEXPIRE 1 h (internal/guard/pumping.go; the application's code in braces is the tag)
//	sf:gx:{app}:{prefix} zset   OTP SMS ids sent to a number prefix, by unix ms; trimmed to the last minute, PEXPIRE 1 min (internal/guard)
//	sf:gm:{app}:{prefix}:{minute} string OTP sent to a prefix in one unix minute, for anomalies; TTL 12 min (internal/guard)
//	sf:gr:{kind}:{app}   string the application's intake token bucket (ratelimit.Limiter with prefix sf:gr:: t, a, m, and u:{app}:{second}); each expires when idle (internal/guard/rate.go)
const (
	pDevice    = "sf:d:"
	pDevices   = "sf:ds:"
	pUser      = "sf:u:"
	pMsg       = "sf:m:"
	pChunk     = "sf:mr:"
	pTargeted  = "sf:mt:"
	pMsgList   = "sf:ml:"
	pMsgSeq    = "sf:mseq:"
	pTxn       = "sf:tx:"
	keyOutbox  = "sf:outbox"
	pSMS       = "sf:s:"
	pRef       = "sf:ref:"
	pAttempts  = "sf:sa:"
	pPark      = "sf:park:"
	keyWaits   = "sf:dw"
	keyOutcome = "sf:oc"
	keyParked  = "sf:pz"
	keyCounts  = "sf:cnt"
	pStatsReq  = "sf:rq:"
	pOptOut    = "sf:oo:"
	pFrequency = "sf:fc:"
	pPreset    = "sf:p:"
	pPresets   = "sf:pl:"
	keyIDKey   = "sf:idkey"
	pWebhook   = "sf:wh:"
	pMOParts   = "sf:mo:"
	chunkSep   = "\n"
	fieldCount = "c:"
)

// The key functions are methods of the store's keyspace (layout.go): with
// the plain layout they name the keys above exactly; with the tagged one
// each key carries a hash tag, so that every script's keys share one Redis
// Cluster slot (docs/decisions.md#22):
//
//	per application   sf:d:{app}:{phone}, sf:ds:{app}, sf:u:{app}:{user}, sf:ml:{app}, sf:mseq:{app},
//	                  sf:tx:{app}:{txn}, sf:oo:{app}, sf:or:{app}:{phone}, sf:fc:{app}:{phone},
//	                  sf:p:{app}:{code}, sf:pl:{app}, sf:in:{app}:{id}, sf:il:{app},
//	                  sf:ip:{app}:{phone}, sf:at:{app}:{phone}:{kw}   the application's code, in braces, is the tag
//	                  sf:qt:, sf:qv:, sf:qw: (internal/quota) carry the application's tag in both layouts
//	per partition     sf:m:{T}:{code}, sf:mr:{T}:{code}:{i}, sf:mt:{T}:{code}, sf:s:{T}:{id}, sf:sa:{T}:{id}   T = tag of the message's partition
//	                  sf:outbox:{T}, sf:dw:{T}, sf:oc:{T}, sf:pz:{T}, sf:cnt:{T}, sf:px:{T}, sf:cd:{day}:{T}   one per partition
//	                  sf:ref:{T}:{prov}:{ref}, sf:park:{T}:{prov}:{ref}                        T = tag of the partition of "prov:ref"
//	fleet-wide        sf:rq:{id}, sf:ibu, sf:idkey, sf:wh:{prov}:{id}, sf:layout                one key per command
//	                  sf:mo:{prov:from:to:w:ref}       one key per script; tagged in both layouts (moparts.go)
//	                  sf:ibu with sf:ibi:{sf:ibu}                                               the stream's name is the tag
const keyLayout = "sf:layout"

func (k *keyspace) device(app, phone string) string { return pDevice + k.app(app) + ":" + phone }
func (k *keyspace) devices(app string) string       { return pDevices + k.app(app) }
func (k *keyspace) userPrefix(app string) string    { return pUser + k.app(app) + ":" }
func (k *keyspace) msg(code string) string          { return pMsg + k.ofCode(code) + code }
func (k *keyspace) chunkPrefix(code string) string  { return pChunk + k.ofCode(code) + code + ":" }
func (k *keyspace) msgList(app string) string       { return pMsgList + k.app(app) }
func (k *keyspace) msgSeq(app string) string        { return pMsgSeq + k.app(app) }
func (k *keyspace) txn(app, txn string) string      { return pTxn + k.app(app) + ":" + txn }
func (k *keyspace) sms(id string) string            { return pSMS + k.ofID(id) + id }
func (k *keyspace) attempts(id string) string       { return pAttempts + k.ofID(id) + id }
func (k *keyspace) ref(prov, ref string) string {
	m := parkedMember(prov, ref)
	return pRef + k.ofCode(m) + m
}
func (k *keyspace) park(prov, ref string) string { return k.parkOf(parkedMember(prov, ref)) }

// parkOf is the park key of a parked member ("prov:ref", sf:pz).
func (k *keyspace) parkOf(member string) string { return pPark + k.ofCode(member) + member }
func (k *keyspace) optOut(app string) string    { return pOptOut + k.app(app) }
func (k *keyspace) optOutRecord(app, phone string) string {
	return pOptOutRec + k.app(app) + ":" + phone
}
func (k *keyspace) frequency(app, phone string) string { return pFrequency + k.app(app) + ":" + phone }
func (k *keyspace) preset(app, code string) string     { return pPreset + k.app(app) + ":" + code }
func (k *keyspace) presets(app string) string          { return pPresets + k.app(app) }

// The fleet-wide structures, one per partition p.
func (k *keyspace) outbox(p int) string  { return keyOutbox + k.suffix(p) }
func (k *keyspace) waits(p int) string   { return keyWaits + k.suffix(p) }
func (k *keyspace) outcome(p int) string { return keyOutcome + k.suffix(p) }
func (k *keyspace) parked(p int) string  { return keyParked + k.suffix(p) }
func (k *keyspace) counts(p int) string  { return keyCounts + k.suffix(p) }

func statsReqKey(id string) string      { return pStatsReq + id }
func webhookKey(prov, id string) string { return pWebhook + prov + ":" + id }

// Opt-out records and unmatched replies (issue 13, item 7).
const (
	pOptOutRec   = "sf:or:"
	keyUnmatched = "sf:ibu"
)

// Hash field names. Go and Lua share them: scripts name them F.<name>
// (luaFields), so a field name is written once.
const (
	// sf:s:{id}
	fMsgCode   = "m"
	fTo        = "to"
	fStatus    = "st"
	fUpdated   = "up"
	fProvider  = "p"
	fRef       = "r"
	fSegments  = "sg"
	fEncoding  = "enc"
	fError     = "e"
	fReason    = "rs"
	fOperator  = "op"
	fAttempts  = "a"
	fDeadline  = "dl"
	fAmbiguous = "amb"
	fDLRCode   = "dlr"
	// fCost is what the SMS cost (segments × its provider's price to its
	// country), in millionths of the fleet's currency; absent: unknown.
	// On sf:m:{code} the same field is the message's sum (cost.go).
	fCost = "co"
	// fInFlight names the provider an attempt is in flight at: Begin sets
	// it (and Pin, on failover), settling the attempt clears it. Found set
	// by a load, it means a worker died mid-call: the provider may have the
	// SMS, so the retry treats it as an ambiguous failure there.
	fInFlight = "fl"
	// sf:m:{code}
	fApp          = "app"
	fType         = "type"
	fContent      = "content"
	fSender       = "sender"
	fPlaceholders = "dcp"
	fCapDays      = "cd"
	fCapCount     = "cc"
	fDeliveryWait = "dw"
	fSegs         = "segs"
	fCallback     = "cb"
	fCanceled     = "canceled"
	fCanceledAt   = "canceled_at"
	fGroups       = "g"
	fGroupSize    = "gn:"
	fFanout       = "fo:"
	fHourly       = "h:"
	fCreatedAt    = "ct"
	fSendAt       = "sa"
	fMsgTimezone  = "tz"
	fTxn          = "txn"
	fValidity     = "vs"
	fRecipients   = "n"
	fChunkSize    = "cs"
	fDirect       = "d"
	fGroupZone    = "gz:"
	fGroupSendAt  = "ga:"
	fGroupChunk   = "gc:"
	// fIDScheme is the message's sms.IDScheme: absent (legacy SHA-256 ids)
	// for messages created before keyed ids (docs/decisions.md#20).
	fIDScheme = "ids"
	// fConditions is a targeted message's conditions (targeting.Encode),
	// evaluated by its dispatch; the scan fields are that dispatch's
	// progress (targeted.go).
	fConditions = "tc"
	fScanCursor = "tcur"
	fScanChunks = "tch"
	fScanDone   = "tdn"
	// fSendRate is the message's send_rate (SMS per second), absent for
	// none: the workers hold its SMS to it (ratelimit.MessageRates).
	fSendRate = "sr"
	// fKeywordAnswer marks the answer to a phone's keyword (a STOP
	// confirmation, inbound/answers.go): the load reports no opt-out for
	// it, since it answers the very STOP that opted the phone out.
	fKeywordAnswer = "ka"
	// fRedact marks a message whose text is removed once its SMS are
	// settled; fTextGone says its text was removed: "redacted" or
	// "expired" (its text retention ended). privacy.go.
	fRedact   = "rd"
	fTextGone = "tg"
	// sf:d:{app}:{phone}
	fUser     = "u"
	fLanguage = "l"
	fTimezone = "tz"
	fCreated  = "ct"
	// sf:cnt
	fReceiptsDropped = "receipts_dropped"
)

// luaFields is the field table above by the name scripts use for it: a
// script writes F.st, and newScript renders it as the literal 'st'. The
// names are constants in the script's bytecode rather than a table built on
// every call, and a name missing here fails at start-up, not as a nil field
// name inside Redis.
var luaFields = map[string]string{
	"m": fMsgCode, "to": fTo, "st": fStatus, "up": fUpdated, "p": fProvider, "r": fRef,
	"sg": fSegments, "enc": fEncoding, "e": fError, "rs": fReason, "op": fOperator, "a": fAttempts,
	"dl": fDeadline, "amb": fAmbiguous, "dlr": fDLRCode, "fl": fInFlight, "co": fCost,
	"app": fApp, "type": fType, "content": fContent, "sender": fSender, "dcp": fPlaceholders,
	"cd": fCapDays, "cc": fCapCount, "dw": fDeliveryWait, "segs": fSegs, "canceled": fCanceled,
	"canceled_at": fCanceledAt, "g": fGroups, "gn": fGroupSize, "fo": fFanout, "h": fHourly, "c": fieldCount,
	"u": fUser, "ct": fCreated, "receipts_dropped": fReceiptsDropped, "ka": fKeywordAnswer, "rd": fRedact, "tg": fTextGone,
	"tc": fConditions, "tcur": fScanCursor, "tch": fScanChunks, "tdn": fScanDone, "n": fRecipients, "sr": fSendRate,
}
