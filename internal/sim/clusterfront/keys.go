package clusterfront

// keySpec is where a command's keys are and whether it writes.
type keySpec struct {
	write bool
	// all: every argument is a key; pairs: every other one (MSET); else
	// the first argument only.
	all, pairs bool
}

// keyCommands are the key commands the front checks the slot of: those
// applications, redisha's checker, probe, drill and migration send. Any
// other command is forwarded without a slot check.
var keyCommands = map[string]keySpec{
	"GET": {}, "MGET": {all: true}, "EXISTS": {all: true}, "TTL": {}, "PTTL": {}, "TYPE": {}, "STRLEN": {},
	"DUMP": {}, "GETRANGE": {}, "HGET": {}, "HGETALL": {}, "HMGET": {}, "HLEN": {}, "LRANGE": {}, "LLEN": {},
	"LINDEX": {}, "SMEMBERS": {}, "SISMEMBER": {}, "SCARD": {}, "ZRANGE": {}, "ZSCORE": {}, "ZCARD": {},
	"XRANGE": {}, "XLEN": {}, "PFCOUNT": {all: true}, "OBJECT": {}, "MEMORY": {}, "TOUCH": {all: true},

	"SET": {write: true}, "SETNX": {write: true}, "SETEX": {write: true}, "PSETEX": {write: true},
	"GETSET": {write: true}, "GETDEL": {write: true}, "GETEX": {write: true}, "APPEND": {write: true},
	"INCR": {write: true}, "INCRBY": {write: true}, "DECR": {write: true}, "DECRBY": {write: true},
	"INCRBYFLOAT": {write: true}, "DEL": {write: true, all: true}, "UNLINK": {write: true, all: true},
	"EXPIRE": {write: true}, "PEXPIRE": {write: true}, "EXPIREAT": {write: true}, "PEXPIREAT": {write: true},
	"PERSIST": {write: true}, "RESTORE": {write: true}, "MSET": {write: true, pairs: true},
	"HSET": {write: true}, "HDEL": {write: true}, "HINCRBY": {write: true}, "LPUSH": {write: true},
	"RPUSH": {write: true}, "LPOP": {write: true}, "RPOP": {write: true}, "LTRIM": {write: true},
	"SADD": {write: true}, "SREM": {write: true}, "ZADD": {write: true}, "ZREM": {write: true},
	"XADD": {write: true}, "PFADD": {write: true},
}

// commandKeys returns the keys of a command the table knows (name upper
// case, args with the name first) and whether it writes.
func commandKeys(name string, args []string) (keys []string, write bool) {
	spec, ok := keyCommands[name]
	if !ok || len(args) < 2 {
		return nil, false
	}
	switch {
	case spec.all:
		return args[1:], spec.write
	case spec.pairs:
		for i := 1; i < len(args); i += 2 {
			keys = append(keys, args[i])
		}
		return keys, spec.write
	}
	if name == "OBJECT" || name == "MEMORY" { // OBJECT ENCODING key, MEMORY USAGE key
		if len(args) < 3 {
			return nil, false
		}
		return args[2:3], false
	}
	return args[1:2], spec.write
}
