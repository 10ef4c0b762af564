package store

import "strings"

// Redis Cluster's key-to-slot mapping (the cluster specification, "Keys
// distribution model"): CRC16-CCITT (XMODEM) of the key's hash tag, or of
// the whole key when it has none, modulo 16384. go-redis computes the
// same in an internal package Go cannot import, so it is written here;
// slot_test.go checks it against CLUSTER KEYSLOT of a real node.

// clusterSlots is how many hash slots a Redis Cluster has.
const clusterSlots = 16384

// keySlot is the hash slot Redis Cluster stores key in.
func keySlot(key string) int {
	return int(crc16(hashTag(key)) % clusterSlots)
}

// hashTag is the part of key that is hashed: what stands between the first
// '{' and the first '}' after it, when that is not empty; else all of key.
func hashTag(key string) string {
	if s := strings.IndexByte(key, '{'); s >= 0 {
		if e := strings.IndexByte(key[s+1:], '}'); e > 0 {
			return key[s+1 : s+1+e]
		}
	}
	return key
}

// crc16 is CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0, no
// reflection), the checksum the cluster specification names.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
