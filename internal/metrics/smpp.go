package metrics

// SMPPMO counts the mobile-originated messages (replies from phones) SMPP
// connections received, by provider and what became of each PDU: passed
// (a whole message handed on), part (a part of a long one, waiting for
// the rest), duplicate_part, bad_encoding, malformed, too_many_parts,
// incomplete_dropped (a long message whose parts stopped coming, dropped
// after its timeout), evicted (dropped to make room for newer ones) and
// no_handler (nobody to hand it to). Everything but passed and part is a
// reply that did not reach the fleet.
var SMPPMO = counterVec("smsfleet_smpp_mo_total", "SMPP mobile-originated PDUs (replies from phones), by provider and result.",
	"provider", "result")
