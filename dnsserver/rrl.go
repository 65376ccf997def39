package dnsserver

import (
	"encoding/binary"
	"net/netip"
	"sync"
)

// limiter is response rate limiting (RRL) per source prefix: GCRA with one
// theoretical arrival time per prefix, in shards so that cores rarely wait
// for one another.
type limiter struct {
	interval int64 // nanoseconds per response at the limit
	burst    int64 // how far ahead of now a prefix's time may run
	slip     int
	v4, v6   int
	max      int // prefixes per shard, maxShardEntries but in tests
	shards   [64]rrlShard
}

type rrlShard struct {
	mu sync.Mutex
	m  map[[16]byte]rrlEntry
	_  [40]byte // keeps shards on separate cache lines
}

type rrlEntry struct {
	tat     int64 // theoretical arrival time, unix nanoseconds
	limited uint32
}

// rrlAction is what to do with one response.
type rrlAction int

const (
	rrlSend rrlAction = iota
	rrlDrop
	rrlSlip // send it truncated and empty
)

// maxShardEntries bounds the memory a flood of sources can take: a full
// shard forgets the prefixes that are under their limit, which is what
// it would do for them anyway.
const maxShardEntries = 1 << 14

func newLimiter(c RRL) *limiter {
	l := &limiter{
		interval: int64(1e9) / int64(c.Rate),
		slip:     c.Slip,
		v4:       c.IPv4Prefix,
		v6:       c.IPv6Prefix,
		max:      maxShardEntries,
	}
	l.burst = l.interval * int64(c.Burst)
	for i := range l.shards {
		l.shards[i].m = make(map[[16]byte]rrlEntry)
	}
	return l
}

// allow counts one response to src at now (unix nanoseconds).
func (l *limiter) allow(src netip.Addr, now int64) rrlAction {
	if !src.IsValid() {
		return rrlSend
	}
	src = src.Unmap()
	bits := l.v6
	if src.Is4() {
		bits = l.v4
	}
	p, _ := src.Prefix(bits)
	key := p.Addr().As16()
	h := binary.LittleEndian.Uint64(key[:8])*0x9e3779b97f4a7c15 ^ binary.LittleEndian.Uint64(key[8:])*0xc2b2ae3d27d4eb4f
	sh := &l.shards[h>>58]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.m[key]
	tat := max(e.tat, now)
	if tat+l.interval-now <= l.burst {
		e.tat, e.limited = tat+l.interval, 0
		sh.put(key, e, now, l.max)
		return rrlSend
	}
	e.limited++
	sh.put(key, e, now, l.max)
	if l.slip > 0 && e.limited%uint32(l.slip) == 0 {
		return rrlSlip
	}
	return rrlDrop
}

func (sh *rrlShard) put(key [16]byte, e rrlEntry, now int64, max int) {
	if _, ok := sh.m[key]; !ok && len(sh.m) >= max {
		for k, old := range sh.m {
			if old.tat <= now {
				delete(sh.m, k)
			}
		}
		if len(sh.m) >= max {
			clear(sh.m)
		}
	}
	sh.m[key] = e
}
