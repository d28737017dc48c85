package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
)

// A key is a field only when it is the field's name exactly; keys that encoding/json would fold
// onto a field are unknown keys, and a folded twin of a key already seen is a duplicate.
func TestFieldNamesMatchExactly(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		body string
		want answer
		hash string // what the domain must have been asked, "" = not called
	}{
		{"the exact key is read", `{"hash":"abc"}`, answer{200, ""}, "abc"},
		{"an escaped key is the same key", `{"h\u0061sh":"abc"}`, answer{200, ""}, "abc"},
		{"HASH is not hash", `{"HASH":"abc"}`, answer{400, "INVALID_REQUEST"}, ""},
		{"Hash is not hash", `{"Hash":"abc"}`, answer{400, "INVALID_REQUEST"}, ""},
		{"haſh (U+017F, which folds to s) is not hash", `{"haſh":"abc"}`, answer{400, "INVALID_REQUEST"}, ""},
		{"haſh escaped is not hash", `{"ha\u017fh":"abc"}`, answer{400, "INVALID_REQUEST"}, ""},
		{"HASH beside hash is a duplicate", `{"hash":"abc","HASH":"x"}`, answer{400, "INVALID_REQUEST"}, ""},
		{"hash after HASH is a duplicate", `{"HASH":"x","hash":"abc"}`, answer{400, "INVALID_REQUEST"}, ""},
		{"haſh beside hash is a duplicate", `{"hash":"abc","haſh":"x"}`, answer{400, "INVALID_REQUEST"}, ""},
		{"two folded twins of an unknown key are duplicates", `{"hash":"abc","extra":1,"EXTRA":2}`, answer{400, "INVALID_REQUEST"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d := &fakeDomain{}
			resp, err := Status(d, opts())(context.Background(), request("POST", c.body))
			check(t, c.name, resp, err, c.want)
			if d.gotHash != c.hash {
				t.Errorf("domain got hash %q, want %q", d.gotHash, c.hash)
			}
		})
	}
}

// The same rule holds for every field of every route.
func TestEveryFieldNameMatchesExactly(t *testing.T) {
	t.Parallel()
	link := []struct{ name, body string }{
		{"AuthorizationCode", `{"hash":"h","AuthorizationCode":"c"}`},
		{"authorizationcode", `{"hash":"h","authorizationcode":"c"}`},
		{"HASH with a code", `{"HASH":"h","authorizationCode":"c"}`},
	}
	for _, c := range link {
		d := &fakeDomain{}
		resp, err := Link(d, opts())(context.Background(), request("POST", c.body))
		check(t, c.name, resp, err, answer{400, "INVALID_REQUEST"})
		if d.calls != 0 {
			t.Errorf("%s: the domain was called", c.name)
		}
	}
	// The referrer is optional: a folded key is an unknown field, so no referrer reaches the domain.
	d := &fakeDomain{}
	resp, err := Link(d, opts())(context.Background(), request("POST", `{"hash":"h","authorizationCode":"c","Referrer":"X"}`))
	check(t, "Referrer", resp, err, answer{200, ""})
	if d.gotRef != "" {
		t.Errorf("Referrer was read as referrer: %q", d.gotRef)
	}

	src := func(context.Context, bool) ([]string, error) { return []string{"id:pw"}, nil }
	for _, body := range []string{`{"UserKey":5}`, `{"userkey":5}`, `{"USERKEY":5}`, "{\"user\u212aey\":5}"} {
		d := &fakeDomain{}
		resp, err := Unlink(d, src, opts())(context.Background(), unlinkReq("POST", "", body, basic("id:pw")))
		check(t, body, resp, err, answer{400, "INVALID_REQUEST"})
		if d.calls != 0 {
			t.Errorf("%s: unlink was called", body)
		}
	}
}

// A value must show what it is: no character that draws as nothing or moves other text, and at
// least one character that is not blank.
func TestTextFieldsRefuseInvisibleAndBlankOnlyValues(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		value string
		ok    bool
	}{
		{"plain ASCII", "abc-123_XYZ+/=", true},
		{"Korean letters", "홍길동", true},
		{"a space between visible characters", "a b", true},
		{"spaces around visible characters", " abc ", true},
		{"a no-break space between visible characters", "a\u00a0b", true},
		{"an ideographic space between visible characters", "가\u3000나", true},
		{"a combining mark on a letter", "e\u0301", true},
		{"an emoji", "🎮", true},
		{"a symbol alone", "+", true},

		{"only spaces", "   ", false},
		{"one space", " ", false},
		{"only tabs", "\t\t", false},
		{"only no-break spaces (U+00A0)", "\u00a0\u00a0", false},
		{"only U+2000..U+200A spaces", "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a", false},
		{"only U+3000 IDEOGRAPHIC SPACE", "\u3000", false},
		{"only U+1680 OGHAM SPACE MARK", "\u1680", false},
		{"only U+202F and U+205F", "\u202f\u205f", false},
		{"only U+3164 HANGUL FILLER", "\u3164", false},
		{"only U+115F HANGUL CHOSEONG FILLER", "\u115f", false},
		{"only U+1160 HANGUL JUNGSEONG FILLER", "\u1160", false},
		{"only U+FFA0 HALFWIDTH HANGUL FILLER", "\uffa0", false},
		{"only U+2800 BRAILLE PATTERN BLANK", "\u2800", false},
		{"only U+FEFF", "\ufeff", false},
		{"only U+180E MONGOLIAN VOWEL SEPARATOR", "\u180e", false},
		{"only U+2060 WORD JOINER", "\u2060", false},
		{"only U+200B ZERO WIDTH SPACE", "\u200b", false},
		{"only a combining grapheme joiner", "\u034f", false},
		{"only a variation selector", "\ufe0f", false},
		{"only a private-use character", "\ue000", false},

		{"a Hangul filler beside letters", "ab\u3164", false},
		{"U+115F beside letters", "\u115fab", false},
		{"U+1160 beside letters", "a\u1160b", false},
		{"a Braille blank beside letters", "a\u2800b", false},
		{"U+FEFF at the start", "\ufeffabc", false},
		{"a zero width space inside", "a\u200bb", false},
		{"a zero width joiner inside", "a\u200db", false},
		{"a word joiner inside", "a\u2060b", false},
		{"U+180E inside", "a\u180eb", false},
		{"a soft hyphen inside", "a\u00adb", false},
		{"a bidi override", "a\u202eb", false},
		{"a bidi isolate", "a\u2066b\u2069", false},
		{"a tag character", "a\U000e0041", false},
		{"a variation selector on an emoji", "\u2764\ufe0f", false},
		{"a Khmer inherent vowel", "a\u17b4", false},
		{"a line separator", "a\u2028b", false},
		{"a paragraph separator", "a\u2029b", false},
		{"NUL", "a\x00b", false},
		{"a tab inside", "a\tb", false},
		{"a newline", "a\nb", false},
		{"DEL", "a\x7fb", false},
		{"a C1 control (NEL)", "a\u0085b", false},
		{"U+FFFD, a lone surrogate decoded", "a\ufffdb", false},
		{"a noncharacter", "a\ufffeb", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			for _, f := range []struct {
				name     string
				required bool
				max      int
			}{{"hash", true, MaxHashLen}, {"authorizationCode", true, MaxCodeLen}, {"referrer", false, MaxReferrerLen}} {
				if err := text(f.name, c.value, f.required, f.max); (err == nil) != c.ok {
					t.Errorf("text(%s, %+q) = %v, want accepted=%v", f.name, c.value, err, c.ok)
				}
			}
			// End to end, as a JSON string in a request.
			escaped, _ := json.Marshal(c.value)
			body := fmt.Sprintf(`{"hash":%s}`, escaped)
			d := &fakeDomain{}
			resp, err := Status(d, opts())(context.Background(), request("POST", body))
			want := answer{400, "INVALID_REQUEST"}
			if c.ok {
				want = answer{200, ""}
			}
			check(t, c.name, resp, err, want)
			if c.ok != (d.gotHash == c.value && d.calls == 1) {
				t.Errorf("domain got %d calls with hash %+q", d.calls, d.gotHash)
			}
		})
	}
}
