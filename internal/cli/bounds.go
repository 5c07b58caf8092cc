package cli

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Every duration, count and size flag declares the range it accepts beside
// its definition (durationRange, intRange, floatRange); finish checks every
// declared range before any command's RunE starts, so a value that cannot
// work (a zero --key-ttl, a negative --timeout, a --cycles of a billion) is
// a usage error naming the flag (exit 2), never a run that hangs. The test
// TestEveryNumericFlagIsBounded walks the whole command tree and fails on a
// numeric flag without a range.

// boundAnnotation holds a flag's range: min, max, a special value outside
// them and what it means ("" when there is none).
const boundAnnotation = "redisha_bound"

// durationRange declares that the duration flag name accepts min..max, and
// also 0 when zero says what 0 means (e.g. "until Ctrl-C"); zero "" accepts 0
// only when min is 0.
func durationRange(fs *pflag.FlagSet, name string, minD, maxD time.Duration, zero string) {
	setBound(fs, name, float64(minD), float64(maxD), 0, zero)
}

// intRange declares the range of an integer flag (int, int64), as
// durationRange does.
func intRange(fs *pflag.FlagSet, name string, minN, maxN int64, zero string) {
	setBound(fs, name, float64(minN), float64(maxN), 0, zero)
}

// intRangeOr declares the range of an integer flag that also accepts one
// value outside it, special, meaning what meaning says (e.g. -1: "off").
func intRangeOr(fs *pflag.FlagSet, name string, minN, maxN, special int64, meaning string) {
	setBound(fs, name, float64(minN), float64(maxN), float64(special), meaning)
}

// floatRange declares the range of a float flag, as durationRange does.
func floatRange(fs *pflag.FlagSet, name string, minF, maxF float64, zero string) {
	setBound(fs, name, minF, maxF, 0, zero)
}

func setBound(fs *pflag.FlagSet, name string, minV, maxV, special float64, meaning string) {
	if fs.Lookup(name) == nil || minV > maxV {
		panic("cli: range declared for undefined flag or with min > max: --" + name)
	}
	g := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	v := []string{g(minV), g(maxV), g(special), meaning}
	_ = fs.SetAnnotation(name, boundAnnotation, v)
}

// flagBound is a flag's declared range.
type flagBound struct {
	min, max float64
	special  float64 // accepted outside min..max when meaning is set
	meaning  string  // what special means, e.g. "until Ctrl-C"
}

// boundOf returns f's declared range.
func boundOf(f *pflag.Flag) (flagBound, bool) {
	a, ok := f.Annotations[boundAnnotation]
	if !ok || len(a) != 4 {
		return flagBound{}, false
	}
	lo, err1 := strconv.ParseFloat(a[0], 64)
	hi, err2 := strconv.ParseFloat(a[1], 64)
	sp, err3 := strconv.ParseFloat(a[2], 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return flagBound{}, false
	}
	return flagBound{min: lo, max: hi, special: sp, meaning: a[3]}, true
}

// accepts reports whether v lies in the range (NaN never does).
func (b flagBound) accepts(v float64) bool {
	if v == b.special && b.meaning != "" {
		return true
	}
	return v >= b.min && v <= b.max
}

// flagNumber reads a numeric flag's value as a float64 (durations in
// nanoseconds); ok is false for a flag that is not numeric.
func flagNumber(f *pflag.Flag) (v float64, ok bool) {
	s := f.Value.String()
	switch f.Value.Type() {
	case "duration":
		d, err := time.ParseDuration(s)
		return float64(d), err == nil
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "count":
		n, err := strconv.ParseFloat(s, 64)
		return n, err == nil
	case "float32", "float64":
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return math.NaN(), true // refused by every range
		}
		return n, true
	}
	return 0, false
}

// isNumericFlag reports whether f holds a duration, count or size.
func isNumericFlag(f *pflag.Flag) bool {
	_, ok := flagNumber(f)
	return ok
}

// checkBounds refuses the first flag of cmd whose value lies outside its
// declared range, naming the flag, the range and the default.
func checkBounds(cmd *cobra.Command) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err != nil {
			return
		}
		b, ok := boundOf(f)
		if !ok {
			return
		}
		if v, ok := flagNumber(f); !ok || !b.accepts(v) {
			err = usagef("--%s %s is out of range: give %s (default %s)", f.Name, f.Value.String(), b.describe(f), f.DefValue)
		}
	})
	return err
}

// describe says what the range accepts, in the flag's unit.
func (b flagBound) describe(f *pflag.Flag) string {
	format := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	if f.Value.Type() == "duration" {
		format = func(v float64) string { return time.Duration(v).String() }
	}
	s := fmt.Sprintf("%s to %s", format(b.min), format(b.max))
	if b.meaning != "" && (b.special < b.min || b.special > b.max) {
		s = fmt.Sprintf("%s (%s) or %s", format(b.special), b.meaning, s)
	}
	return s
}
