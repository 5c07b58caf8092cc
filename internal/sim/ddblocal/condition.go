package ddblocal

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"unicode"
)

// condition is a compiled condition expression; item is nil when absent.
type condition func(item Item) bool

// parseCondition compiles the subset of DynamoDB's condition grammar a
// compare-and-set uses:
//
//	cond    := and { OR and }
//	and     := not { AND not }
//	not     := NOT not | "(" cond ")" | fn "(" path ")" | operand cmp operand
//	fn      := attribute_exists | attribute_not_exists
//	cmp     := = | <> | < | <= | > | >=
//	operand := path | :value       path := name | #name
func parseCondition(expr string, names map[string]string, values Item) (condition, error) {
	toks, err := tokenize(expr)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, names: names, values: values, usedNames: map[string]bool{}, usedValues: map[string]bool{}}
	c, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.toks) {
		return nil, fmt.Errorf("unexpected %q", p.toks[p.pos])
	}
	// DynamoDB rejects placeholders that the expression does not use.
	for n := range names {
		if !p.usedNames[n] {
			return nil, fmt.Errorf("unused expression attribute name %s", n)
		}
	}
	for v := range values {
		if !p.usedValues[v] {
			return nil, fmt.Errorf("unused expression attribute value %s", v)
		}
	}
	return c, nil
}

func tokenize(s string) ([]string, error) {
	var out []string
	for i := 0; i < len(s); {
		c := rune(s[i])
		switch {
		case unicode.IsSpace(c):
			i++
		case strings.ContainsRune("(),=", c):
			out = append(out, string(c))
			i++
		case c == '<' || c == '>':
			if i+1 < len(s) && (s[i+1] == '=' || (c == '<' && s[i+1] == '>')) {
				out = append(out, s[i:i+2])
				i += 2
			} else {
				out = append(out, string(c))
				i++
			}
		case c == '#' || c == ':' || c == '_' || unicode.IsLetter(c):
			j := i + 1
			for j < len(s) && (s[j] == '_' || unicode.IsLetter(rune(s[j])) || unicode.IsDigit(rune(s[j]))) {
				j++
			}
			out = append(out, s[i:j])
			i = j
		default:
			return nil, fmt.Errorf("unexpected character %q", c)
		}
	}
	return out, nil
}

type parser struct {
	toks                  []string
	pos                   int
	names                 map[string]string
	values                Item
	usedNames, usedValues map[string]bool
}

func (p *parser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *parser) next() string {
	t := p.peek()
	p.pos++
	return t
}

func (p *parser) expect(t string) error {
	if got := p.next(); got != t {
		return fmt.Errorf("want %q, got %q", t, got)
	}
	return nil
}

func (p *parser) or() (condition, error) {
	l, err := p.and()
	for err == nil && strings.EqualFold(p.peek(), "OR") {
		p.next()
		var r condition
		if r, err = p.and(); err == nil {
			a, b := l, r
			l = func(it Item) bool { return a(it) || b(it) }
		}
	}
	return l, err
}

func (p *parser) and() (condition, error) {
	l, err := p.not()
	for err == nil && strings.EqualFold(p.peek(), "AND") {
		p.next()
		var r condition
		if r, err = p.not(); err == nil {
			a, b := l, r
			l = func(it Item) bool { return a(it) && b(it) }
		}
	}
	return l, err
}

func (p *parser) not() (condition, error) {
	switch t := p.peek(); {
	case strings.EqualFold(t, "NOT"):
		p.next()
		c, err := p.not()
		if err != nil {
			return nil, err
		}
		return func(it Item) bool { return !c(it) }, nil
	case t == "(":
		p.next()
		c, err := p.or()
		if err != nil {
			return nil, err
		}
		return c, p.expect(")")
	case t == "attribute_exists" || t == "attribute_not_exists":
		p.next()
		if err := p.expect("("); err != nil {
			return nil, err
		}
		name, err := p.path(p.next())
		if err != nil {
			return nil, err
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		exists := t == "attribute_exists"
		return func(it Item) bool { _, ok := it[name]; return ok == exists }, nil
	}
	return p.comparison()
}

func (p *parser) path(t string) (string, error) {
	switch {
	case strings.HasPrefix(t, "#"):
		n, ok := p.names[t]
		if !ok {
			return "", fmt.Errorf("expression attribute name %s is not defined", t)
		}
		p.usedNames[t] = true
		return n, nil
	case t == "" || strings.HasPrefix(t, ":") || !(t[0] == '_' || unicode.IsLetter(rune(t[0]))):
		return "", fmt.Errorf("want an attribute name, got %q", t)
	}
	return t, nil
}

// operand returns a function giving the operand's value (nil when absent).
func (p *parser) operand() (func(Item) map[string]any, error) {
	t := p.next()
	if strings.HasPrefix(t, ":") {
		v, ok := p.values[t]
		if !ok {
			return nil, fmt.Errorf("expression attribute value %s is not defined", t)
		}
		p.usedValues[t] = true
		return func(Item) map[string]any { return v }, nil
	}
	name, err := p.path(t)
	if err != nil {
		return nil, err
	}
	return func(it Item) map[string]any { return it[name] }, nil
}

func (p *parser) comparison() (condition, error) {
	l, err := p.operand()
	if err != nil {
		return nil, err
	}
	op := p.next()
	switch op {
	case "=", "<>", "<", "<=", ">", ">=":
	default:
		return nil, fmt.Errorf("want a comparison operator, got %q", op)
	}
	r, err := p.operand()
	if err != nil {
		return nil, err
	}
	return func(it Item) bool {
		c, ok := compare(l(it), r(it))
		if !ok {
			return op == "<>" && l(it) != nil && r(it) != nil // values of different types differ
		}
		switch op {
		case "=":
			return c == 0
		case "<>":
			return c != 0
		case "<":
			return c < 0
		case "<=":
			return c <= 0
		case ">":
			return c > 0
		}
		return c >= 0
	}, nil
}

// compare orders two attribute values of the same scalar type; ok is false
// when either is absent or their types differ.
func compare(a, b map[string]any) (int, bool) {
	if a == nil || b == nil {
		return 0, false
	}
	if n1, n2, err := numbers(a, b); err == nil {
		return n1.Cmp(n2), true
	}
	if s1, ok := a["S"].(string); ok {
		if s2, ok := b["S"].(string); ok {
			return strings.Compare(s1, s2), true
		}
		return 0, false
	}
	// Other types: equality only.
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) == string(jb) {
		return 0, true
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return 0, false
		}
	}
	return 1, true
}

func numbers(a, b map[string]any) (*big.Float, *big.Float, error) {
	sa, ok1 := a["N"].(string)
	sb, ok2 := b["N"].(string)
	if !ok1 || !ok2 {
		return nil, nil, errors.New("not numbers")
	}
	na, _, err1 := big.ParseFloat(sa, 10, 256, big.ToNearestEven)
	nb, _, err2 := big.ParseFloat(sb, 10, 256, big.ToNearestEven)
	if err1 != nil || err2 != nil {
		return nil, nil, errors.New("not numbers")
	}
	return na, nb, nil
}
