package dualwrite

import (
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// What is mirrored, and how. Most writes are deterministic: replayed in the
// same order on data that is the same, they have the same effect, so the
// command itself is sent. Where the effect depends on a random choice, the
// clock or the reply, the effect is sent instead, as Redis itself does for
// its replicas:
//
//	SPOP k [n]                 SREM k <the members popped>
//	XADD k ... * f v           XADD k ... <the id given> f v
//	XREADGROUP ... STREAMS k > XCLAIM k g c 0 <id> FORCE JUSTID LASTID <id> per entry
//	                           (NOACK: XGROUP SETID k g <last id>)
//	GETSET k v, SET k v GET    SET k v (when it wrote: a nil reply is a new key)
//	SET k v NX|XX, SETNX k v   SET k v (only when it wrote)
//	INCRBYFLOAT k x            SET k <the result> KEEPTTL (sent with Do; the
//	HINCRBYFLOAT k f x         HSET k f <the result>   typed methods' float
//	                                                   replies are replayed)
//	BLPOP/BRPOP/BZPOPMIN/...   LPOP/RPOP/ZPOPMIN/ZPOPMAX <the key served> (nothing on timeout)
//	LMPOP/ZMPOP/BLMPOP/BZMPOP  LPOP/RPOP/ZPOPMIN/ZPOPMAX <the key served> <count served>
//	BLMOVE, BRPOPLPUSH         LMOVE / RPOPLPUSH (nothing on timeout)
//	SORT ... STORE d           the same (a write only with STORE)
//
// refusedCommands change data but are not mirrored: each one the old
// deployment accepts is counted in Stats.Refused and passed to
// Options.OnRefused. Scripts and functions run code the mirror cannot see
// into; FLUSH*/SWAPDB act on whole databases; XCLAIM/XAUTOCLAIM depend on
// idle times measured on each side. Mirror their effect yourself, or make
// the new side current with redisha migrate copy/compare afterwards.
var refusedCommands = map[string]bool{
	"eval": true, "evalsha": true, "fcall": true, "flushdb": true, "flushall": true, "swapdb": true,
	"xclaim": true, "xautoclaim": true, "migrate": true,
}

// multiKey lists the writes that touch more than one key: they are
// mirrored in order with every other write (see Mirror).
var multiKey = map[string]bool{
	"mset": true, "msetnx": true, "rename": true, "renamenx": true, "copy": true, "smove": true,
	"sinterstore": true, "sunionstore": true, "sdiffstore": true, "zunionstore": true, "zinterstore": true,
	"zdiffstore": true, "zrangestore": true, "lmove": true, "rpoplpush": true, "bitop": true, "pfmerge": true,
	"geosearchstore": true, "sort": true, "del": true, "unlink": true, "touch": true,
}

// keyOf is the (first) key a write names: the second word, or the third
// after a subcommand or an operation (XGROUP CREATE k, BITOP AND dest).
func keyOf(args []interface{}) interface{} {
	i := 1
	switch strings.ToLower(argString(args, 0)) {
	case "xgroup", "bitop":
		i = 2
	}
	if i >= len(args) {
		return nil
	}
	return args[i]
}

// isMultiKey is true when the write touches more than one key.
func isMultiKey(args []interface{}) bool {
	name := strings.ToLower(argString(args, 0))
	switch name {
	case "del", "unlink", "touch":
		return len(args) > 2
	}
	return multiKey[name]
}

// effect turns an accepted command into what to mirror: nil when nothing
// changed; refused when it changes data in a way the mirror cannot repeat.
func effect(cmd redis.Cmder, isWrite func(string) bool) (out [][]interface{}, refused bool) {
	name := cmd.Name()
	args := cmd.Args()
	err := cmd.Err()
	nilReply := err == redis.Nil
	if c, ok := cmd.(*redis.BoolCmd); ok && err == nil && !c.Val() {
		nilReply = true // SetNX and friends read a nil reply as false
	}
	if c, ok := cmd.(*redis.StatusCmd); ok && err == nil && c.Val() == "" {
		nilReply = true
	}
	if err != nil && !nilReply {
		return nil, false // refused by the old deployment: nothing happened
	}
	if refusedCommands[name] {
		return nil, true
	}
	if !isWrite(name) && name != "sort" {
		return nil, false
	}
	switch name {
	case "sort":
		if !hasWord(args, 2, "store") {
			return nil, false // a read
		}
	case "getset":
		return one("set", args[1], args[2]), false
	case "set":
		return setEffect(args, nilReply), false
	case "setnx":
		if replyInt(cmd) == 1 {
			return one("set", args[1], args[2]), false
		}
		return nil, false
	case "incrbyfloat":
		if v, ok := replyString(cmd); ok {
			return one("set", args[1], v, "keepttl"), false
		}
	case "hincrbyfloat":
		if v, ok := replyString(cmd); ok {
			return one("hset", args[1], args[2], v), false
		}
	case "spop":
		members := replyStrings(cmd)
		if len(members) == 0 {
			return nil, false
		}
		o := []interface{}{"srem", args[1]}
		for _, m := range members {
			o = append(o, m)
		}
		return [][]interface{}{o}, false
	case "xadd":
		return xaddEffect(cmd, args, nilReply)
	case "xreadgroup":
		return xreadgroupEffect(cmd, args)
	case "blpop", "brpop", "bzpopmin", "bzpopmax":
		r := replyStrings(cmd)
		if len(r) == 0 {
			return nil, false
		}
		return one(strings.TrimPrefix(name, "b"), r[0]), false
	case "lmpop", "blmpop", "zmpop", "bzmpop":
		return mpopEffect(cmd, args, name)
	case "blmove":
		if nilReply {
			return nil, false
		}
		return [][]interface{}{append([]interface{}{"lmove"}, args[1:len(args)-1]...)}, false
	case "brpoplpush":
		if nilReply {
			return nil, false
		}
		return one("rpoplpush", args[1], args[2]), false
	}
	if nilReply {
		return nil, false // LPOP of an empty list, SET NX that did not set, ...
	}
	return [][]interface{}{args}, false
}

func one(args ...interface{}) [][]interface{} { return [][]interface{}{args} }

// setEffect mirrors SET as the write it made, without the conditions that
// made it (NX, XX) or the read (GET): on the new side those would test data
// that is not the data the old side tested.
func setEffect(args []interface{}, nilReply bool) [][]interface{} {
	nx, xx, get := false, false, false
	out := []interface{}{"set", args[1], args[2]}
	for i := 3; i < len(args); i++ {
		switch strings.ToLower(argString(args, i)) {
		case "nx":
			nx = true
		case "xx":
			xx = true
		case "get":
			get = true
		default:
			out = append(out, args[i])
		}
	}
	wrote := true
	switch {
	case get && nx:
		wrote = nilReply // nil: there was no value, so NX set it
	case get && xx:
		wrote = !nilReply
	case get:
		wrote = true // nil only says the key was new
	case nx || xx:
		wrote = !nilReply
	}
	if !wrote {
		return nil
	}
	return [][]interface{}{out}
}

// xaddEffect replaces an id of '*' (or 'ms-*') with the id the old side
// gave, so both sides hold the same entry ids.
func xaddEffect(cmd redis.Cmder, args []interface{}, nilReply bool) ([][]interface{}, bool) {
	if nilReply {
		return nil, false // NOMKSTREAM on a missing stream
	}
	id, ok := replyString(cmd)
	if !ok {
		return nil, true
	}
	i := 2
	if strings.EqualFold(argString(args, i), "nomkstream") {
		i++
	}
	if w := strings.ToLower(argString(args, i)); w == "maxlen" || w == "minid" {
		i++
		if w := argString(args, i); w == "=" || w == "~" {
			i++
		}
		i++
		if strings.EqualFold(argString(args, i), "limit") {
			i += 2
		}
	}
	if i >= len(args) {
		return nil, true
	}
	out := append([]interface{}(nil), args...)
	out[i] = id
	return [][]interface{}{out}, false
}

// xreadgroupEffect repeats what XREADGROUP ... > wrote: the entries it
// delivered join the consumer's pending list (XCLAIM ... FORCE), and the
// group's last delivered id moves (LASTID); with NOACK only the id moves.
func xreadgroupEffect(cmd redis.Cmder, args []interface{}) ([][]interface{}, bool) {
	group, consumer := argString(args, 2), argString(args, 3)
	noack := hasWord(args, 4, "noack")
	streams, ok := replyStreams(cmd)
	if !ok {
		return nil, true
	}
	var out [][]interface{}
	for _, s := range streams {
		if len(s.Messages) == 0 {
			continue
		}
		last := s.Messages[len(s.Messages)-1].ID
		if noack {
			out = append(out, []interface{}{"xgroup", "setid", s.Stream, group, last})
			continue
		}
		for _, m := range s.Messages {
			out = append(out, []interface{}{"xclaim", s.Stream, group, consumer, 0, m.ID, "force", "justid", "lastid", last})
		}
	}
	return out, false
}

// mpopEffect repeats LMPOP/ZMPOP as a pop of the key that was served, as
// many elements as were served.
func mpopEffect(cmd redis.Cmder, args []interface{}, name string) ([][]interface{}, bool) {
	if cmd.Err() == redis.Nil {
		return nil, false
	}
	key, n, ok := replyMPop(cmd)
	if !ok {
		return nil, true
	}
	if n == 0 {
		return nil, false
	}
	// [timeout] numkeys key... LEFT|RIGHT|MIN|MAX [COUNT n]
	at := 1
	if strings.HasPrefix(name, "b") {
		at = 2
	}
	numkeys, err := strconv.Atoi(argString(args, at))
	if err != nil {
		return nil, true
	}
	var pop string
	switch strings.ToLower(argString(args, at+numkeys+1)) {
	case "left":
		pop = "lpop"
	case "right":
		pop = "rpop"
	case "min":
		pop = "zpopmin"
	case "max":
		pop = "zpopmax"
	default:
		return nil, true
	}
	return one(pop, key, n), false
}

func hasWord(args []interface{}, from int, w string) bool {
	for i := from; i < len(args); i++ {
		if strings.EqualFold(anyString(args[i]), w) {
			return true
		}
	}
	return false
}

func argString(args []interface{}, i int) string {
	if i >= len(args) {
		return ""
	}
	return anyString(args[i])
}

func anyString(a interface{}) string {
	switch v := a.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	}
	return ""
}

func replyInt(cmd redis.Cmder) int64 {
	switch c := cmd.(type) {
	case *redis.IntCmd:
		return c.Val()
	case *redis.BoolCmd:
		if c.Val() {
			return 1
		}
	case *redis.Cmd:
		n, _ := c.Int64()
		return n
	}
	return 0
}

func replyString(cmd redis.Cmder) (string, bool) {
	switch c := cmd.(type) {
	case *redis.StringCmd:
		return c.Val(), true
	case *redis.Cmd:
		s, err := c.Text()
		return s, err == nil
	}
	return "", false
}

func replyStrings(cmd redis.Cmder) []string {
	switch c := cmd.(type) {
	case *redis.StringCmd:
		if c.Err() == nil {
			return []string{c.Val()}
		}
	case *redis.StringSliceCmd:
		return c.Val()
	case *redis.ZWithKeyCmd:
		if v := c.Val(); v != nil {
			return []string{v.Key}
		}
	case *redis.Cmd:
		if s, err := c.StringSlice(); err == nil {
			return s
		}
		if s, err := c.Text(); err == nil {
			return []string{s}
		}
	}
	return nil
}

func replyStreams(cmd redis.Cmder) ([]redis.XStream, bool) {
	switch c := cmd.(type) {
	case *redis.XStreamSliceCmd:
		return c.Val(), true
	case *redis.Cmd:
		if c.Err() == redis.Nil {
			return nil, true
		}
		arr, ok := c.Val().([]interface{})
		if !ok {
			return nil, false
		}
		var out []redis.XStream
		for _, s := range arr {
			pair, ok := s.([]interface{})
			if !ok || len(pair) != 2 {
				return nil, false
			}
			st := redis.XStream{Stream: anyString(pair[0])}
			msgs, _ := pair[1].([]interface{})
			for _, m := range msgs {
				e, ok := m.([]interface{})
				if !ok || len(e) == 0 {
					return nil, false
				}
				st.Messages = append(st.Messages, redis.XMessage{ID: anyString(e[0])})
			}
			out = append(out, st)
		}
		return out, true
	}
	return nil, false
}

func replyMPop(cmd redis.Cmder) (key string, n int, ok bool) {
	switch c := cmd.(type) {
	case *redis.KeyValuesCmd:
		k, v := c.Val()
		return k, len(v), true
	case *redis.ZSliceWithKeyCmd:
		k, v := c.Val()
		return k, len(v), true
	case *redis.Cmd:
		arr, ok := c.Val().([]interface{})
		if !ok || len(arr) != 2 {
			return "", 0, false
		}
		elems, _ := arr[1].([]interface{})
		return anyString(arr[0]), len(elems), true
	}
	return "", 0, false
}
