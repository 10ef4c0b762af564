// Drives smsfleet with the unmodified pushwoosh-client library, calling
// every method and field of issue 16 the library can send: register two
// phones (one with timezone as an integer offset in seconds, as
// Pushwoosh's Device API documents it), tag them, try to read the tags
// (refused: no token), send an SMS to one phone, send by tag conditions,
// send with send_rate, and send what smsfleet must refuse (a bad
// send_rate, an unknown condition operator, an unsupported field, and
// the library's default "all subscribers" to an application that does
// not allow broadcasts). The library hands a 210 back as a result
// ({description, detail, code: 210}), not an error. Prints one JSON line
// with what the library returned; exits non-zero on any library error.
// Usage: node smoke.js <base URL, e.g. http://127.0.0.1:8080> <application> <auth token> <phone> <second phone>
'use strict';
const Pushwoosh = require('pushwoosh-client');
const [base, app, token, phone, paris] = process.argv.slice(2);
const client = new Pushwoosh(app, token, { host: base + '/json' });
const out = {};
const step = (name, fn) => new Promise((resolve, reject) =>
  fn((err, res) => (err ? reject(new Error(name + ': ' + err.message)) : resolve((out[name] = res)))));

(async () => {
  await step('registerDevice', cb => client.registerDevice({ push_token: phone, hwid: phone, device_type: 18, language: 'en', timezone: 3600 }, cb));
  await step('registerParis', cb => client.registerDevice({ push_token: paris, hwid: paris, device_type: 18, language: 'fr', timezone: 'Europe/Paris' }, cb));
  await step('setTags', cb => client.setTags({ hwid: phone, tags: { City: 'London' } }, cb));
  await step('setTagsParis', cb => client.setTags({ hwid: paris, tags: { City: 'Paris' } }, cb));
  // The library sends getTags without a token (and only by hwid: it has no
  // userId form); an open application answers it 401 since tags hold
  // personal data (issue 13 item 9). Record the refusal instead of
  // stopping: the Go test checks it and reads the tags with the server
  // token.
  await step('getTags', cb => client.getTags({ hwid: phone }, cb))
    .catch(err => { out.getTagsRefused = err.message; });
  await step('sendMessage', cb => client.sendMessage('Hello from a Pushwoosh client', [phone], cb));
  await step('sendConditions', cb => client.sendMessage('London only', { conditions: [['City', 'EQ', 'London']] }, cb));
  await step('sendRate', cb => client.sendMessage('Paced', [phone], { send_rate: 100 }, cb));
  await step('badSendRate', cb => client.sendMessage('Too slow', [phone], { send_rate: 5 }, cb));
  await step('badOperator', cb => client.sendMessage('Bad', { conditions: [['City', 'LIKE', 'Lon%']] }, cb));
  await step('unsupportedField', cb => client.sendMessage('Bad', [phone], { filter: 'London' }, cb));
  await step('allSubscribers', cb => client.sendMessage('To everyone', cb));
  console.log(JSON.stringify(out));
})().catch(err => { console.error(err.message); process.exit(1); });
