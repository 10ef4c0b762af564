// Drives smsfleet with the unmodified pushwoosh-client library: register a
// phone, tag it, try to read the tags (refused: no token), send it an SMS. Prints one JSON line with
// what the library returned; exits non-zero on any library error.
// Usage: node smoke.js <base URL, e.g. http://127.0.0.1:8080> <application> <auth token> <phone>
'use strict';
const Pushwoosh = require('pushwoosh-client');
const [base, app, token, phone] = process.argv.slice(2);
const client = new Pushwoosh(app, token, { host: base + '/json' });
const out = {};
const step = (name, fn) => new Promise((resolve, reject) =>
  fn((err, res) => (err ? reject(new Error(name + ': ' + err.message)) : resolve((out[name] = res)))));

(async () => {
  await step('registerDevice', cb => client.registerDevice({ push_token: phone, hwid: phone, device_type: 18, language: 'en' }, cb));
  await step('setTags', cb => client.setTags({ hwid: phone, tags: { City: 'London' } }, cb));
  // The library sends getTags without a token; an open application answers
  // it 401 since tags hold personal data (issue 13 item 9). Record the
  // refusal instead of stopping: the Go test checks it and reads the tags
  // with the server token.
  await step('getTags', cb => client.getTags({ hwid: phone }, cb))
    .catch(err => { out.getTagsRefused = err.message; });
  await step('sendMessage', cb => client.sendMessage('Hello from a Pushwoosh client', [phone], cb));
  console.log(JSON.stringify(out));
})().catch(err => { console.error(err.message); process.exit(1); });
