package tests

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/graceful-shutdown-lab/lab/internal/lesson"
	"github.com/graceful-shutdown-lab/lab/internal/report"
)

// The demo's language: --lang wins; else the locale, as POSIX picks the
// locale of messages (LC_ALL, else LC_MESSAGES, else LANG); zh_TW.* is
// Traditional Chinese, anything else English.
func TestLocaleLanguage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  map[string]string
		want lesson.Language
	}{
		{"none", nil, lesson.English},
		{"LANG=zh_TW.UTF-8", map[string]string{"LANG": "zh_TW.UTF-8"}, lesson.TaiwanMandarin},
		{"LANG=zh_TW", map[string]string{"LANG": "zh_TW"}, lesson.TaiwanMandarin},
		{"LANG=zh_TW.Big5", map[string]string{"LANG": "zh_TW.Big5"}, lesson.TaiwanMandarin},
		{"LANG=zh_CN.UTF-8", map[string]string{"LANG": "zh_CN.UTF-8"}, lesson.English},
		{"LANG=zh_TWX", map[string]string{"LANG": "zh_TWX"}, lesson.English},
		{"LC_ALL-wins-over-LANG", map[string]string{"LC_ALL": "C.UTF-8", "LANG": "zh_TW.UTF-8"}, lesson.English},
		{"LC_ALL=zh_TW-over-LANG=en", map[string]string{"LC_ALL": "zh_TW.UTF-8", "LANG": "en_US.UTF-8"}, lesson.TaiwanMandarin},
		{"LC_ALL-empty-is-unset", map[string]string{"LC_ALL": "", "LANG": "zh_TW.UTF-8"}, lesson.TaiwanMandarin},
		{"LC_MESSAGES-over-LANG", map[string]string{"LC_MESSAGES": "zh_TW.UTF-8", "LANG": "C"}, lesson.TaiwanMandarin},
		{"LC_ALL-over-LC_MESSAGES", map[string]string{"LC_ALL": "C", "LC_MESSAGES": "zh_TW.UTF-8"}, lesson.English},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := lesson.LocaleLanguage(func(name string) string { return tc.env[name] }); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	for _, s := range []string{"zh-TW", "zh_TW", "ZH-tw", "en", "EN"} {
		if _, err := lesson.ParseLanguage(s); err != nil {
			t.Errorf("--lang %s: %v", s, err)
		}
	}
	if _, err := lesson.ParseLanguage("fr"); err == nil || err.Error() != "--lang must be en or zh-TW, got 'fr'" {
		t.Errorf("--lang fr: got %v", err)
	}
}

// Every word the demo prints through lesson.Words has its Traditional
// Chinese: each message passed to T or to note as a literal (or a constant
// of its file), each legend, each step's title, summary and introduction.
func TestDemoWordsTranslated(t *testing.T) {
	t.Parallel()
	zh := lesson.WordsOf(lesson.TaiwanMandarin)
	messages := []string{report.LegendSteps, report.LegendUpgrade, report.LegendStreaming, report.LegendRolling, report.LegendDurable, report.LegendGRPC, report.LegendRiver}
	for _, dir := range []string{"scripts/demo", "internal/report"} {
		messages = append(messages, translatedMessages(t, filepath.Join(repoRoot(), dir))...)
	}
	if len(messages) < 80 {
		t.Fatalf("found only %d messages: the search for T(...) and note(...) calls is broken", len(messages))
	}
	for _, m := range messages {
		if !zh.Translates(m) {
			t.Errorf("no zh-TW for %q", m)
		}
	}
	for _, s := range lesson.Steps {
		words := zh.Step(s)
		if !zh.HasStep(s.Program) || words.Title == "" || len(words.Summary) == 0 || len(words.Intro(lesson.FastTimings)) == 0 {
			t.Errorf("step %d (%s): no zh-TW title, summary and introduction", s.Number, s.Program)
		}
	}
}

// translatedMessages are the first arguments of the calls X.T(...) and
// X.note(...) in the Go files of dir: string literals, or constants
// declared in that package.
func translatedMessages(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	constants := map[string]string{}
	var calls []*ast.CallExpr
	for _, file := range files {
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.ValueSpec:
				for i, name := range n.Names {
					if i < len(n.Values) {
						if lit, ok := n.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							constants[name.Name], _ = strconv.Unquote(lit.Value)
						}
					}
				}
			case *ast.CallExpr:
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && (sel.Sel.Name == "T" || sel.Sel.Name == "note") && len(n.Args) > 0 {
					calls = append(calls, n)
				}
			}
			return true
		})
	}
	var messages []string
	for _, call := range calls {
		switch arg := call.Args[0].(type) {
		case *ast.BasicLit:
			m, err := strconv.Unquote(arg.Value)
			if err != nil {
				t.Fatal(err)
			}
			messages = append(messages, m)
		case *ast.Ident:
			if arg.Obj != nil && arg.Obj.Kind == ast.Var {
				continue // a parameter: the words of a wrapper's caller
			}
			m, ok := constants[arg.Name]
			if !ok {
				t.Errorf("%s: %s is no string constant of its package", fset.Position(call.Pos()), arg.Name)
			}
			messages = append(messages, m)
		}
	}
	return messages
}

// One real demo step in Traditional Chinese, chosen by --lang and by the
// locale: the narration, the verdict table, the timeline and the RESULT
// line are in Chinese, and the commands it prints are exactly those of the
// English run.
func TestDemoStepInTaiwanMandarin(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skips the demo")
	}
	t.Parallel()
	runs := []struct {
		name   string
		env    []string
		args   []string
		result string
	}{
		{"en", nil, nil, "RESULT: PASS 5/5 outcomes matched the lesson"},
		{"--lang-zh-TW", nil, []string{"--lang", "zh-TW"}, "結果：通過，5/5 個結果都和課程相符"},
		{"LANG=zh_TW.UTF-8", []string{"LANG=zh_TW.UTF-8"}, nil, "結果：通過，5/5 個結果都和課程相符"},
	}
	commands := make([][]string, len(runs))
	for i, run := range runs {
		t.Run(run.name, func(t *testing.T) {
			t.Parallel()
			demo, port, tmp := startDemoWith(t, run.env, "", append([]string{"--fast", "--no-pause", "--step", "2"}, run.args...)...)
			demo.assertExitedWith(t, demo.waitExitWithin(t, scriptTimeout), 0)
			assertLesson(t, readReport(t, tmp), "02-graceful")
			lines := demo.out.All()
			if last := lines[len(lines)-1].Text; last != run.result {
				t.Errorf("last line %q, want %q\noutput:\n%s", last, run.result, demo.out)
			}
			commands[i] = printedCommands(demo.out.String(), port, tmp)
			if run.name == "en" {
				return
			}
			for _, want := range []string{"== 第 2 步：02-graceful，用 SIGTERM 停止", "判定表（02-graceful）：", "時間軸（0 = 第一個請求；",
				"✔ 02-graceful 伺服器   | 結束狀態 0（Server exiting）       | 結束狀態 0（Server exiting）"} {
				if len(demo.out.lines(want)) != 1 {
					t.Errorf("want one line with %q\noutput:\n%s", want, demo.out)
				}
			}
			for _, l := range lines {
				if note, ok := strings.CutPrefix(l.Text, "  # "); ok && !strings.ContainsFunc(note, isHan) {
					t.Errorf("a note in English: %q", l.Text)
				}
			}
		})
	}
	// The parent's cleanup runs once every run has ended; a run that -run
	// left out printed nothing to compare.
	t.Cleanup(func() {
		for i := range runs[1:] {
			if commands[0] == nil || commands[i+1] == nil {
				continue
			}
			if len(commands[0]) < 12 || !slices.Equal(commands[i+1], commands[0]) {
				t.Errorf("%s printed the commands\n%s\nwhile English printed\n%s", runs[i+1].name,
					strings.Join(commands[i+1], "\n"), strings.Join(commands[0], "\n"))
			}
		}
	})
}

func isHan(r rune) bool { return unicode.Is(unicode.Han, r) }

// shownCommand is a command line as the demo shows it, with its clock.
var shownCommand = regexp.MustCompile(`^  (?:\+ *[\d.]+s| {7})  \$ (.*)$`)

// printedCommands are the commands a demo run showed: those of the step's
// banner (without the comment after them), then those it ran, with its
// port, its temporary folders and the PIDs made alike so that two runs
// compare.
func printedCommands(out, port, tmp string) []string {
	alike := strings.NewReplacer(port, "PORT", tmp, "TMP")
	folder := regexp.MustCompile(`graceful-demo\.\d+`)
	pid := regexp.MustCompile(`^kill -(\w+) \d+$`)
	comment := regexp.MustCompile(` +# .*$`)
	var commands []string
	inBanner := false
	for line := range strings.Lines(out) {
		line = folder.ReplaceAllString(alike.Replace(strings.TrimRight(line, "\n")), "graceful-demo.N")
		switch {
		case line == "  The commands, in order:" || line == "  依序執行的指令：":
			inBanner = true
		case inBanner && strings.HasPrefix(line, "    "):
			commands = append(commands, comment.ReplaceAllString(line, ""))
		case shownCommand.MatchString(line):
			commands = append(commands, pid.ReplaceAllString(shownCommand.FindStringSubmatch(line)[1], "kill -$1 PID"))
		default:
			inBanner = false
		}
	}
	return commands
}

// --lang wins over the locale, LC_ALL over LANG: the help in each
// language, without a run.
func TestDemoHelpLanguage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		env   []string
		args  []string
		first string
	}{
		{"en", nil, nil, "Usage: demo.sh "},
		{"--lang-zh-TW", nil, []string{"--lang", "zh-TW"}, "用法：demo.sh "},
		{"LANG=zh_TW.UTF-8", []string{"LANG=zh_TW.UTF-8"}, nil, "用法：demo.sh "},
		{"LC_ALL=C-over-LANG=zh_TW", []string{"LC_ALL=C", "LANG=zh_TW.UTF-8"}, nil, "Usage: demo.sh "},
		{"--lang-en-over-LC_ALL=zh_TW", []string{"LC_ALL=zh_TW.UTF-8"}, []string{"--lang", "en"}, "Usage: demo.sh "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			trackSources(t)
			cmd := exec.Command("bash", append([]string{"scripts/demo.sh", "--help"}, tc.args...)...)
			cmd.Dir = repoRoot()
			cmd.Env = append(append(demoEnv(), "TMPDIR="+t.TempDir()), tc.env...)
			out, err := cmd.Output() // bash warns on stderr of a locale not installed
			if err != nil || !strings.HasPrefix(string(out), tc.first) {
				t.Errorf("%v: want the help starting %q, got\n%s", err, tc.first, out)
			}
		})
	}
	cmd := exec.Command("bash", "scripts/demo.sh", "--lang", "fr")
	cmd.Dir = repoRoot()
	cmd.Env = append(demoEnv(), "TMPDIR="+t.TempDir())
	p := startProcess(t, cmd)
	p.assertExitedWith(t, p.waitExitWithin(t, scriptTimeout), 2)
	if got := strings.TrimSpace(p.out.String()); got != "demo.sh: --lang must be en or zh-TW, got 'fr'" {
		t.Errorf("--lang fr: got %q", got)
	}
}

// demoEnv is the tests' environment for the demo, in English whatever the
// locale the tests run in; a test sets LC_ALL, LC_MESSAGES or LANG after it
// to choose.
func demoEnv() []string {
	return append(os.Environ(), "LC_ALL=", "LC_MESSAGES=", "LANG=C.UTF-8")
}
