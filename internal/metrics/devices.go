package metrics

// DeviceBindingRefused counts registerDevice calls refused because they
// would have bound a phone to a user id, or moved it to another, without
// the application's server token (a device token, or none for an open
// application; issue 13 item 1). A steady rate is a client that needs
// its server to bind users (or, during a migration, the application's
// legacy_user_binding); a burst is someone trying to take over users'
// SMS. The label is the application code: a finite, configured set.
var DeviceBindingRefused = counterVec("smsfleet_device_binding_refused_total",
	"registerDevice calls refused because they would bind or move a phone's user id without the server token, by application.", "app")
