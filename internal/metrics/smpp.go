package metrics

// SMPPMO counts the mobile-originated messages (replies from phones) SMPP
// connections received, by provider and what became of each PDU: passed
// (a whole message landed), part (a part of a long one, held for the
// rest), duplicate_part, bad_encoding, malformed, malformed_udh (a user
// data header that does not fit: refused, session kept), too_many_parts,
// refused (the inbound path cannot read it), incomplete_dropped and
// evicted (in-memory reassembly only), no_handler (nobody to hand it to),
// and not_landed, not_stored, busy, inbox_full: answered with a temporary
// error for the SMSC to deliver again. Everything but passed, part and
// duplicate_part is a reply that did not reach the fleet (yet, for the
// last four).
var SMPPMO = counterVec("smsfleet_smpp_mo_total", "SMPP mobile-originated PDUs (replies from phones), by provider and result.",
	"provider", "result")
