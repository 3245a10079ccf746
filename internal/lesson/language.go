package lesson

import (
	"fmt"
	"regexp"
	"strings"
)

// Language is the language the demo speaks: English, the words written
// where they are used, or Taiwanese Mandarin, the words of zh_tw.go.
type Language string

const (
	English        Language = "en"
	TaiwanMandarin Language = "zh-TW"
)

// ParseLanguage reads --lang: "en" or "zh-TW" (the case and zh_TW's
// underscore do not matter).
func ParseLanguage(s string) (Language, error) {
	switch strings.ReplaceAll(strings.ToLower(s), "_", "-") {
	case "en":
		return English, nil
	case "zh-tw":
		return TaiwanMandarin, nil
	}
	return "", fmt.Errorf("--lang must be en or zh-TW, got '%s'", s)
}

// LocaleLanguage is the language of the locale, as POSIX picks the locale
// of messages: LC_ALL when set, else LC_MESSAGES, else LANG. A zh_TW
// locale (zh_TW, zh_TW.UTF-8, zh_TW@...) is Taiwanese Mandarin; any other,
// or none, is English.
func LocaleLanguage(getenv func(string) string) Language {
	locale := ""
	for _, name := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		if locale = getenv(name); locale != "" {
			break
		}
	}
	if rest, ok := strings.CutPrefix(locale, "zh_TW"); ok && (rest == "" || rest[0] == '.' || rest[0] == '@') {
		return TaiwanMandarin
	}
	return English
}

// Words are a language's words for everything the demo prints besides
// the commands it runs and what the programs print: English is the key,
// so that the English words stay where they are used.
type Words struct {
	Language Language
	table    *catalogue // nil for English
}

// catalogue is a language's table of words (zh_tw.go).
type catalogue struct {
	// messages: an English format (as passed to T) -> its translation,
	// which may reorder the arguments with %[n]s.
	messages map[string]string
	// phrases rewrite the outcomes and notes of verdict tables and
	// timelines, tried in order on the whole text (see Phrase).
	phrases []phrase
	// labels: a row's label (server, late) -> its translation; numbered
	// ones (req1, job2, client3, app1) are names and stay.
	labels map[string]string
	// steps: a step's program -> its words.
	steps map[string]StepWords
}

// phrase rewrites a whole text matching pattern (anchored) into zh, with
// ${1} for the pattern's first group.
type phrase struct {
	pattern *regexp.Regexp
	zh      string
}

// StepWords are a step's own words: its banner's title, its entry in
// --help, what it says before it runs.
type StepWords struct {
	Title   string
	Summary []string
	Intro   func(Timings) []string
}

// WordsOf returns a language's words.
func WordsOf(l Language) Words {
	if l == TaiwanMandarin {
		return Words{Language: l, table: &taiwanMandarin}
	}
	return Words{Language: English}
}

// T formats a message as fmt.Sprintf does, in the words' language: the
// English format is the key of its translation.
func (w Words) T(format string, args ...any) string {
	if w.table != nil {
		if zh, ok := w.table.messages[format]; ok {
			format = zh
		}
	}
	if len(args) == 0 {
		return format
	}
	return fmt.Sprintf(format, args...)
}

// Translates reports whether the words have a translation of format
// (English has every one).
func (w Words) Translates(format string) bool {
	if w.table == nil {
		return true
	}
	_, ok := w.table.messages[format]
	return ok
}

// Label is a row's label in the words' language.
func (w Words) Label(label string) string {
	if w.table != nil {
		if zh, ok := w.table.labels[label]; ok {
			return zh
		}
	}
	return label
}

// Step returns a step's words in the words' language; English, from the
// step itself, when the language has none for it.
func (w Words) Step(s Step) StepWords {
	if w.table != nil {
		if words, ok := w.table.steps[s.Program]; ok {
			return words
		}
	}
	return StepWords{Title: s.Title, Summary: s.Summary, Intro: s.Intro}
}

// HasStep reports whether the words have a step's own words (English has
// every step's).
func (w Words) HasStep(program string) bool {
	if w.table == nil {
		return true
	}
	_, ok := w.table.steps[program]
	return ok
}

// parenthesised is "text (aside)": an outcome with the program's last
// words, or a count with its source.
var parenthesised = regexp.MustCompile(`^(.+) \((.+)\)$`)

// Phrase is an outcome or a note of a verdict table or a timeline, as the
// demo words it in English ("exit 0 (Server exiting)", "done, 2 attempts,
// 1 effect"), in the words' language. The first phrase matching the whole
// text rewrites it; else "text (aside)" and lists ("a, b; c") are
// rewritten part by part; what matches nothing (a log line, curl's error,
// a name) stays as it is.
func (w Words) Phrase(text string) string {
	if w.table == nil || text == "" {
		return text
	}
	for _, p := range w.table.phrases {
		if p.pattern.MatchString(text) {
			return p.pattern.ReplaceAllString(text, p.zh)
		}
	}
	if m := parenthesised.FindStringSubmatch(text); m != nil {
		return w.Phrase(m[1]) + "（" + w.Phrase(m[2]) + "）"
	}
	for _, sep := range []struct{ en, zh string }{{"; ", "；"}, {", ", "，"}} {
		if parts := strings.Split(text, sep.en); len(parts) > 1 {
			for i, part := range parts {
				parts[i] = w.Phrase(part)
			}
			return strings.Join(parts, sep.zh)
		}
	}
	return text
}
