package check

import (
	"strconv"
	"sync"
)

// SlotCount is the number of hash slots of a Redis (or Valkey) cluster.
const SlotCount = 16384

// KeySlot is the hash slot of key as a cluster computes it: CRC16 (XMODEM)
// of the key, or of its hash tag (the text between the first '{' and the
// next '}', when not empty), modulo 16384.
func KeySlot(key string) int {
	for i := 0; i < len(key); i++ {
		if key[i] != '{' {
			continue
		}
		for j := i + 1; j < len(key); j++ {
			if key[j] == '}' {
				if j > i+1 {
					key = key[i+1 : j]
				}
				return int(crc16(key)) % SlotCount
			}
		}
		break
	}
	return int(crc16(key)) % SlotCount
}

// crc16 is the CRC16-CCITT variant (XMODEM: polynomial 0x1021, initial 0)
// that the cluster specification names for key hashing.
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

// slotTags holds, for every slot, the shortest base-36 number (the first
// one counting up from 0) whose CRC16 falls in that slot. The table is the
// same in every process and region, so the checkers of both sides of a
// Global Datastore name a shard's heartbeat key alike. Built once, on the
// first cluster check (about 170,000 hashes, a few milliseconds).
var slotTags = sync.OnceValue(func() *[SlotCount]string {
	var t [SlotCount]string
	left := SlotCount
	for n := uint64(0); left > 0; n++ {
		s := strconv.FormatUint(n, 36)
		slot := int(crc16(s)) % SlotCount
		if t[slot] == "" {
			t[slot] = s
			left--
		}
	}
	return &t
})

// SlotTag is a hash tag that hashes to slot: a key holding "{tag}" lives in
// that slot. slot must be in [0, 16383].
func SlotTag(slot int) string { return slotTags()[slot] }
