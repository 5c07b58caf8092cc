package clusterfront

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// readCommand reads one request: a RESP array of bulk strings (what every
// client sends) or an inline command (a line of words, as typed in telnet).
// It returns the request's bytes, to forward as they came, and its
// arguments.
func readCommand(r *bufio.Reader) (raw []byte, args []string, err error) {
	line, err := readLine(r)
	if err != nil {
		return nil, nil, err
	}
	if len(line) == 0 || line[0] != '*' {
		raw = append(append([]byte{}, line...), '\r', '\n')
		return raw, strings.Fields(string(line)), nil
	}
	n, err := strconv.Atoi(string(line[1:]))
	if err != nil || n < 0 || n > 1<<20 {
		return nil, nil, fmt.Errorf("bad array header %q", line)
	}
	var b bytes.Buffer
	b.Write(line)
	b.WriteString("\r\n")
	args = make([]string, 0, n)
	for range n {
		hdr, err := readLine(r)
		if err != nil {
			return nil, nil, err
		}
		if len(hdr) == 0 || hdr[0] != '$' {
			return nil, nil, fmt.Errorf("bad bulk header %q", hdr)
		}
		size, err := strconv.Atoi(string(hdr[1:]))
		if err != nil || size < 0 || size > 512<<20 {
			return nil, nil, fmt.Errorf("bad bulk length %q", hdr)
		}
		body := make([]byte, size+2)
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, nil, err
		}
		b.Write(hdr)
		b.WriteString("\r\n")
		b.Write(body)
		args = append(args, string(body[:size]))
	}
	return b.Bytes(), args, nil
}

// readReply reads one reply of any RESP2 or RESP3 type and returns its
// bytes whole, so that a forwarded reply reaches the client unchanged.
func readReply(r *bufio.Reader) ([]byte, error) {
	var b bytes.Buffer
	if err := copyReply(r, &b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func copyReply(r *bufio.Reader, b *bytes.Buffer) error {
	line, err := readLine(r)
	if err != nil {
		return err
	}
	if len(line) == 0 {
		return errors.New("empty reply line")
	}
	b.Write(line)
	b.WriteString("\r\n")
	switch line[0] {
	case '+', '-', ':', '_', ',', '#', '(':
		return nil
	case '$', '=', '!': // bulk, verbatim and blob error: a length, then the bytes
		n, err := strconv.Atoi(string(line[1:]))
		if err != nil {
			return fmt.Errorf("bad length %q", line)
		}
		if n < 0 {
			return nil
		}
		body := make([]byte, n+2)
		if _, err := io.ReadFull(r, body); err != nil {
			return err
		}
		b.Write(body)
		return nil
	case '*', '~', '>', '%', '|': // array, set, push; map and attribute hold pairs
		n, err := strconv.Atoi(string(line[1:]))
		if err != nil {
			return fmt.Errorf("bad count %q", line)
		}
		if line[0] == '%' || line[0] == '|' {
			n *= 2
		}
		for range max(n, 0) {
			if err := copyReply(r, b); err != nil {
				return err
			}
		}
		if line[0] == '|' { // an attribute precedes the reply it describes
			return copyReply(r, b)
		}
		return nil
	}
	return fmt.Errorf("unknown reply type %q", line[0])
}

// readLine reads up to CRLF and returns the line without it.
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	return append([]byte{}, line...), nil
}

// Writers of the replies the front makes itself (RESP2, which RESP3
// clients read too).

func simple(s string) []byte { return []byte("+" + s + "\r\n") }

func errorReply(s string) []byte { return []byte("-" + s + "\r\n") }

func bulk(s string) []byte { return []byte("$" + strconv.Itoa(len(s)) + "\r\n" + s + "\r\n") }

func integer(n int) []byte { return []byte(":" + strconv.Itoa(n) + "\r\n") }

func array(items ...[]byte) []byte {
	b := []byte("*" + strconv.Itoa(len(items)) + "\r\n")
	for _, it := range items {
		b = append(b, it...)
	}
	return b
}

// rewriteBulk replaces old with new in a bulk or verbatim string reply (an
// INFO answer), fixing its length; other replies come back unchanged.
func rewriteBulk(reply []byte, old, new string) []byte {
	if len(reply) == 0 || (reply[0] != '$' && reply[0] != '=') {
		return reply
	}
	i := bytes.Index(reply, []byte("\r\n"))
	if i < 0 {
		return reply
	}
	body := reply[i+2 : len(reply)-2]
	body = bytes.ReplaceAll(body, []byte(old), []byte(new))
	out := []byte{reply[0]}
	out = append(out, strconv.Itoa(len(body))...)
	out = append(out, "\r\n"...)
	out = append(out, body...)
	return append(out, "\r\n"...)
}
