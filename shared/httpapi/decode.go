package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/tossgame/migration-server/shared/apperr"
)

// Field limits. The hash's format is undocumented: bound it generously but firmly.
const (
	MaxHashLen     = 256
	MaxCodeLen     = 1024
	MaxReferrerLen = 64
)

// body returns the request body as bytes, enforcing the size limit and a JSON content type.
func body(req *events.APIGatewayV2HTTPRequest, limit int) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	raw := []byte(req.Body)
	if req.IsBase64Encoded {
		// Base64 is 4/3 of the payload: check before decoding so a huge body costs nothing.
		if base64.StdEncoding.DecodedLen(len(req.Body)) > limit+3 {
			return nil, &apperr.TooLargeError{Limit: limit}
		}
		var err error
		if raw, err = base64.StdEncoding.DecodeString(req.Body); err != nil {
			return nil, apperr.Input("body is marked base64 but is not valid base64")
		}
	}
	if len(raw) > limit {
		return nil, &apperr.TooLargeError{Limit: limit}
	}
	if ct := header(req.Headers, "content-type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return nil, apperr.Input("Content-Type must be application/json")
		}
	}
	return raw, nil
}

// field is one key a request object may carry and where its value is decoded to.
type field struct {
	name string
	dst  any
}

// object decodes a JSON object strictly, in one pass: one object, no duplicate keys (two parsers
// must never read two different requests from one body), valid UTF-8, nothing after it. A key
// is a field only when it is the field's name exactly: encoding/json would also read "HASH",
// "Hash" and "haſh" (U+017F folds to s) as hash, and a parser that does not would then see
// another request. Unknown keys are skipped so that clients may add fields.
func object(raw []byte, fields ...field) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return apperr.Input("body is empty; send a JSON object")
	}
	if !utf8.Valid(raw) {
		return apperr.Input("body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return apperr.Input("body is not valid JSON")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return apperr.Input("body must be a JSON object")
	}
	var seen [16]string // the keys so far; valid bodies have three at most
	n := 0
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return apperr.Input("body is not valid JSON")
		}
		key, _ := tok.(string)
		// Duplicates are found case-folded, as encoding/json folds: a body with "hash" and
		// "HASH" means one thing to us and another to a parser that folds.
		for _, k := range seen[:min(n, len(seen))] {
			if strings.EqualFold(k, key) {
				return apperr.Input(fmt.Sprintf("field %q appears more than once", printable(key)))
			}
		}
		if n++; n > len(seen) {
			return apperr.Input("body has too many fields")
		}
		seen[n-1] = key
		var dst any = &json.RawMessage{}
		name := ""
		for _, f := range fields {
			if f.name == key {
				dst, name = f.dst, f.name
				break
			}
		}
		if err := dec.Decode(dst); err != nil {
			var te *json.UnmarshalTypeError
			if name != "" && errors.As(err, &te) {
				return apperr.Input(fmt.Sprintf("field %q must be a %s", name, kind(te.Type.Kind().String())))
			}
			return apperr.Input("body is not valid JSON")
		}
	}
	if _, err := dec.Token(); err != nil {
		return apperr.Input("body is not valid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return apperr.Input("body has data after the JSON object")
	}
	return nil
}

func kind(k string) string {
	switch k {
	case "string":
		return "string"
	case "int64", "uint64":
		return "integer"
	default:
		return k
	}
}

// text checks a required or optional string field: its length in bytes, and that what the
// client sent is what every log and console shows.
//
// Refused anywhere in the value: control characters (Cc); format characters (Cf: bidi
// overrides, zero-width spaces and joiners, U+FEFF, U+2060, U+180E, tags); line and paragraph
// separators (Zl, Zp); U+FFFD (what a lone surrogate escape decodes to: the client sent
// something it did not mean); noncharacters; and the characters Unicode lists as default
// ignorable that are not Cf, which fonts draw as nothing (the Hangul fillers U+115F, U+1160,
// U+3164, U+FFA0, U+034F, the Khmer inherent vowels, variation selectors), with U+2800 BRAILLE
// PATTERN BLANK, which draws as a blank. Spaces (Zs) are allowed between visible characters,
// but a value needs at least one visible character (a letter, mark, number, punctuation or
// symbol): one made only of blanks looks empty wherever it is shown.
func text(name, v string, required bool, max int) error {
	if v == "" {
		if required {
			return apperr.Input(fmt.Sprintf("%s is required", name))
		}
		return nil
	}
	if len(v) > max {
		return apperr.Input(fmt.Sprintf("%s is longer than %d bytes", name, max))
	}
	visible := false
	for _, r := range v {
		if invisible(r) {
			return apperr.Input(fmt.Sprintf("%s contains a control, invisible or invalid character", name))
		}
		visible = visible || (unicode.IsGraphic(r) && !unicode.IsSpace(r))
	}
	if !visible {
		return apperr.Input(fmt.Sprintf("%s has no visible character", name))
	}
	return nil
}

// invisible reports the characters text refuses anywhere.
func invisible(r rune) bool {
	return r == utf8.RuneError || r == '\u2800' ||
		unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Noncharacter_Code_Point,
			unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector)
}

// printable keeps a client-supplied key safe to echo in an error message.
func printable(s string) string {
	if len(s) > 40 {
		s = s[:40]
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return '?'
	}, s)
}

// userKey parses a callback's userKey: decimal digits only (no sign, exponent or fraction), and
// within int64. JSON numbers are handled as text, so 9007199254740993 stays exact.
func userKey(s string) (int64, error) {
	if s == "" {
		return 0, apperr.Input("userKey is required")
	}
	if len(s) > 19 {
		return 0, apperr.Input("userKey is out of range")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, apperr.Input("userKey must be a non-negative integer")
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, apperr.Input("userKey is out of range")
	}
	return n, nil
}
