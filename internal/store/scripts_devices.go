package store

import "github.com/redis/go-redis/v9"

// scriptRegisterDevice: KEYS device, devices set; ARGV phone, user prefix,
// user id (empty keeps the current one, or the phone for a new device),
// now ms, #pairs, pairs (fields to set; a tag with an empty value is
// deleted).
var scriptRegisterDevice = redis.NewScript(`
local phone, prefix, user, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local old = redis.call('HGET', KEYS[1], 'u')
if user == '' then user = old or phone end
if old and old ~= user then redis.call('SREM', prefix .. old, phone) end
redis.call('HSET', KEYS[1], 'u', user, 'up', now)
redis.call('HSETNX', KEYS[1], 'ct', now)
local n = tonumber(ARGV[5])
for i = 6, 5 + n * 2, 2 do
  if ARGV[i + 1] == '' then redis.call('HDEL', KEYS[1], ARGV[i]) else redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
redis.call('SADD', prefix .. user, phone)
redis.call('SADD', KEYS[2], phone)
return old and 0 or 1
`)

// scriptUnregisterDevice: KEYS device, devices set; ARGV phone, user prefix.
var scriptUnregisterDevice = redis.NewScript(`
local old = redis.call('HGET', KEYS[1], 'u')
if not old then return 0 end
redis.call('SREM', ARGV[2] .. old, ARGV[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1])
return 1
`)

// scriptSetTags: KEYS device; ARGV now, pairs. Only for a registered device.
var scriptSetTags = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'up', ARGV[1])
for i = 2, #ARGV, 2 do
  if ARGV[i + 1] == '' then redis.call('HDEL', KEYS[1], ARGV[i]) else redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
return 1
`)
