package tests

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// readmePage is the page that lists what each test proves.
const readmePage = "tests/README.md"

// rowName finds the test a table row is about: the first name in
// backticks in its first cell, such as | `TestInFlightRequest` | … |.
var rowName = regexp.MustCompile("^\\|\\s*`(Test[A-Za-z0-9_]*)")

// tests/README.md has one row for each top-level Test function in
// tests/*.go, and no row for a test that does not exist, so the page
// cannot drift from the suite while tests are added and renamed.
func TestReadmeListsEveryTest(t *testing.T) {
	t.Parallel()
	defined, err := definedTests(filepath.Join(repoRoot(), "tests"))
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(repoRoot(), readmePage))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]int{} // test name -> its row's line number
	inCode := false            // inside a ``` block, such as the page's example row
	for i, line := range strings.Split(string(page), "\n") {
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
		}
		m := rowName.FindStringSubmatch(line)
		if m == nil || inCode {
			continue
		}
		if first, ok := listed[m[1]]; ok {
			t.Errorf("%s has two rows for %s (lines %d and %d): keep one", readmePage, m[1], first, i+1)
			continue
		}
		listed[m[1]] = i + 1
	}

	for _, name := range sortedKeys(defined) {
		if _, ok := listed[name]; !ok {
			t.Errorf("%s has no row for %s (defined in tests/%s): add the row | `%s` | what it proves | to the lessons' or the harness's table",
				readmePage, name, defined[name], name)
		}
	}
	for _, name := range sortedKeys(listed) {
		if _, ok := defined[name]; !ok {
			t.Errorf("%s line %d names %s, which no tests/*.go defines: remove the row or correct the name",
				readmePage, listed[name], name)
		}
	}
}

// definedTests returns each top-level test function in dir's Go files
// (TestMain is not a test), with the file that defines it.
func definedTests(dir string) (map[string]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	tests := map[string]string{}
	fset := token.NewFileSet()
	for _, path := range files {
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if ok && fn.Recv == nil && isTestName(fn.Name.Name) && takesTestingT(fn) {
				tests[fn.Name.Name] = filepath.Base(path)
			}
		}
	}
	return tests, nil
}

// isTestName is go test's rule: Test, then nothing or a rune that is not
// a lower-case letter.
func isTestName(name string) bool {
	rest, ok := strings.CutPrefix(name, "Test")
	if !ok {
		return false
	}
	r, _ := utf8.DecodeRuneInString(rest)
	return rest == "" || !unicode.IsLower(r)
}

// takesTestingT says whether fn's one parameter is *testing.T (TestMain
// takes *testing.M).
func takesTestingT(fn *ast.FuncDecl) bool {
	params := fn.Type.Params.List
	if len(params) != 1 || len(params[0].Names) > 1 {
		return false
	}
	star, ok := params[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	sel, ok := star.X.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "T"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
