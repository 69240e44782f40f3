package main

// A strict reader of one JSON value per request line, with the C driver's
// rules (driver/json.c) so that both answer bad input alike: UTF-8 checked,
// no control characters or lone surrogates in strings, no duplicate keys,
// nesting at most 64 deep, nothing after the value, and every error naming
// the column (1-based, in bytes) where it went wrong. encoding/json is
// lenient on exactly these points (it replaces bad UTF-8 and surrogates,
// keeps the last duplicate), hence this reader.
//
// Values: nil, bool, int64 (a number written without a fraction or
// exponent that fits), float64 (every other number), string, []any and
// map[string]any.

import (
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

var simpleEscapes = map[byte]rune{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f',
	'n': '\n', 'r': '\r', 't': '\t'}

type jsonParser struct {
	s     []byte
	pos   int
	depth int
}

type jsonError struct {
	msg    string
	column int
}

func (e *jsonError) Error() string { return fmt.Sprintf("%s at column %d", e.msg, e.column) }

func parseJSON(line []byte) (any, error) {
	p := &jsonParser{s: line}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos < len(p.s) {
		return nil, p.fail(p.pos, "unexpected %s after the value", p.describeByte())
	}
	return v, nil
}

func (p *jsonParser) fail(at int, format string, a ...any) error {
	return &jsonError{fmt.Sprintf(format, a...), at + 1}
}

// describeByte names the byte at pos for a message: 'x', or byte 0xff.
func (p *jsonParser) describeByte() string {
	c := p.s[p.pos]
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("'%c'", c)
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

func (p *jsonParser) skipSpace() {
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *jsonParser) value() (any, error) {
	p.skipSpace()
	if p.pos >= len(p.s) {
		return nil, p.fail(p.pos, "expected a value, found the end of the line")
	}
	switch c := p.s[p.pos]; {
	case c == '{' || c == '[':
		if p.depth >= maxJSONDepth {
			return nil, p.fail(p.pos, "nesting deeper than %d levels", maxJSONDepth)
		}
		p.depth++
		defer func() { p.depth-- }()
		if c == '{' {
			return p.object()
		}
		return p.array()
	case c == '"':
		return p.str()
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	}
	for _, lit := range []struct {
		text  string
		value any
	}{{"true", true}, {"false", false}, {"null", nil}} {
		if len(p.s)-p.pos >= len(lit.text) && string(p.s[p.pos:p.pos+len(lit.text)]) == lit.text {
			p.pos += len(lit.text)
			return lit.value, nil
		}
	}
	return nil, p.fail(p.pos, "expected a value, got %s", p.describeByte())
}

func (p *jsonParser) object() (any, error) {
	open := p.pos
	p.pos++ // '{'
	m := map[string]any{}
	p.skipSpace()
	if p.pos < len(p.s) && p.s[p.pos] == '}' {
		p.pos++
		return m, nil
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.s) || p.s[p.pos] != '"' {
			return nil, p.expected("a string key")
		}
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.pos >= len(p.s) || p.s[p.pos] != ':' {
			return nil, p.expected("':'")
		}
		p.pos++
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		if _, dup := m[key.(string)]; dup {
			return nil, p.fail(open, "duplicate key %s in the object", quote(key.(string)))
		}
		m[key.(string)] = v
		p.skipSpace()
		if p.pos < len(p.s) && p.s[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.pos < len(p.s) && p.s[p.pos] == '}' {
			p.pos++
			return m, nil
		}
		return nil, p.expected("',' or '}'")
	}
}

func (p *jsonParser) array() (any, error) {
	p.pos++ // '['
	items := []any{}
	p.skipSpace()
	if p.pos < len(p.s) && p.s[p.pos] == ']' {
		p.pos++
		return items, nil
	}
	for {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		items = append(items, v)
		p.skipSpace()
		if p.pos < len(p.s) && p.s[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.pos < len(p.s) && p.s[p.pos] == ']' {
			p.pos++
			return items, nil
		}
		return nil, p.expected("',' or ']'")
	}
}

func (p *jsonParser) expected(what string) error {
	if p.pos >= len(p.s) {
		return p.fail(p.pos, "expected %s, found the end of the line", what)
	}
	return p.fail(p.pos, "expected %s, got %s", what, p.describeByte())
}

func (p *jsonParser) str() (any, error) {
	p.pos++ // '"'
	var out []byte
	for {
		if p.pos >= len(p.s) {
			return nil, p.fail(p.pos, "unterminated string, found the end of the line")
		}
		c := p.s[p.pos]
		switch {
		case c == '"':
			p.pos++
			return string(out), nil
		case c == '\\':
			r, err := p.escape()
			if err != nil {
				return nil, err
			}
			out = utf8.AppendRune(out, r)
		case c < 0x20:
			return nil, p.fail(p.pos, "control character 0x%02x in string (escape it)", c)
		case c < 0x80:
			out = append(out, c)
			p.pos++
		default:
			r, size := utf8.DecodeRune(p.s[p.pos:])
			if r == utf8.RuneError && size <= 1 {
				return nil, p.fail(p.pos, "invalid UTF-8 byte 0x%02x in string", c)
			}
			out = append(out, p.s[p.pos:p.pos+size]...)
			p.pos += size
		}
	}
}

// escape reads one escape sequence at pos ('\\'), a surrogate pair whole.
func (p *jsonParser) escape() (rune, error) {
	at := p.pos
	if p.pos+1 >= len(p.s) {
		return 0, p.fail(at, "unterminated escape, found the end of the line")
	}
	c := p.s[p.pos+1]
	p.pos += 2
	if simple, ok := simpleEscapes[c]; ok {
		return simple, nil
	}
	if c != 'u' {
		return 0, p.fail(at, "invalid escape '\\%c'", c)
	}
	r, err := p.hex4(at)
	if err != nil {
		return 0, err
	}
	switch {
	case r >= 0xDC00 && r <= 0xDFFF:
		return 0, p.fail(at, "lone low surrogate \\u%04X", r)
	case r >= 0xD800 && r <= 0xDBFF:
		if p.pos+1 >= len(p.s) || p.s[p.pos] != '\\' || p.s[p.pos+1] != 'u' {
			return 0, p.fail(at, "high surrogate \\u%04X not followed by a low one", r)
		}
		p.pos += 2
		low, err := p.hex4(at)
		if err != nil {
			return 0, err
		}
		if low < 0xDC00 || low > 0xDFFF {
			return 0, p.fail(at, "high surrogate \\u%04X not followed by a low one", r)
		}
		return utf16.DecodeRune(r, low), nil
	}
	return r, nil
}

func (p *jsonParser) hex4(at int) (rune, error) {
	if p.pos+4 > len(p.s) {
		return 0, p.fail(at, "\\u needs four hex digits")
	}
	v, err := strconv.ParseUint(string(p.s[p.pos:p.pos+4]), 16, 32)
	if err != nil {
		return 0, p.fail(at, "\\u needs four hex digits")
	}
	p.pos += 4
	return rune(v), nil
}

func (p *jsonParser) number() (any, error) {
	start := p.pos
	digits := func() int {
		n := 0
		for p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	if p.s[p.pos] == '-' {
		p.pos++
	}
	intStart := p.pos
	if digits() == 0 {
		return nil, p.expected("a digit")
	}
	if p.s[intStart] == '0' && p.pos-intStart > 1 {
		return nil, p.fail(intStart, "a number must not start with 0")
	}
	integral := true
	if p.pos < len(p.s) && p.s[p.pos] == '.' {
		integral = false
		p.pos++
		if digits() == 0 {
			return nil, p.expected("a digit after '.'")
		}
	}
	if p.pos < len(p.s) && (p.s[p.pos] == 'e' || p.s[p.pos] == 'E') {
		integral = false
		p.pos++
		if p.pos < len(p.s) && (p.s[p.pos] == '+' || p.s[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return nil, p.expected("a digit in the exponent")
		}
	}
	text := string(p.s[start:p.pos])
	if integral {
		if i, err := strconv.ParseInt(text, 10, 64); err == nil {
			return i, nil
		}
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil { // out of float64's range
		return nil, p.fail(start, "number %s is out of range", text)
	}
	return f, nil
}
