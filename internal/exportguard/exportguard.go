// Package exportguard checks that every cgo //export function goes through the
// package's panic guard, so that no Go panic can unwind into a C caller.
//
// For each function whose doc comment holds an //export directive, the rule is:
//   - it has exactly one result, and that result is named;
//   - its first statement is exactly `defer guard(&<that result>)`;
//   - guard resolves to the package-level func named guard of the same package
//     (not a variable, a parameter, a closure or another package's function);
//   - that guard calls the builtin recover directly, the only way recover stops a panic.
//
// For example:
//
//	//export mlxp_op
//	func mlxp_op(x *C.mlxp_tensor) (status C.mlxp_status) {
//		defer guard(&status)
//		...
//	}
//
// The analyzer reads the cgo-processed files that go/packages and go vet hand over:
// cgo keeps the //export comments there, and //line directives map positions back to
// the original source. As a cross-check, every symbol that cgo itself exports (its
// //go:cgo_export_dynamic lines in _cgo_gotypes.go) must belong to a checked function,
// so a toolchain that dropped the comments would fail the check instead of passing it.
package exportguard

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"strings"

	"golang.org/x/tools/go/analysis"
)

// Analyzer reports //export functions that are not protected by the package's guard.
var Analyzer = &analysis.Analyzer{
	Name: "exportguard",
	Doc: "check that every cgo //export function starts with `defer guard(&result)`\n\n" +
		"Each //export function must have one named result and start with\n" +
		"`defer guard(&result)`, where guard is the package-level func of the same\n" +
		"package and calls recover directly.",
	Run: run,
}

// guardName is the name of the package-level panic guard.
const guardName = "guard"

// exportPrefix is cgo's own test for an export directive (cmd/cgo saveExport).
const exportPrefix = "//export "

// cgoExportPrefix starts the lines cgo writes into _cgo_gotypes.go for each export.
const cgoExportPrefix = "//go:cgo_export_dynamic "

// run checks every //export function of one package, then the guard they share.
func run(pass *analysis.Pass) (any, error) {
	checked := make(map[string]bool) // exported names whose function was checked
	var guard *types.Func            // the guard used by at least one checked function

	for _, file := range pass.Files {
		for _, decl := range file.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok {
				continue
			}
			name, ok := exportName(fn)
			if !ok {
				continue
			}
			checked[name] = true
			if g := checkExport(pass, fn); g != nil {
				guard = g
			}
		}
	}

	if guard != nil {
		checkRecovers(pass, guard)
	}
	checkCgoExports(pass, checked)
	return nil, nil
}

// exportName returns the name in fn's //export directive, if it has one.
func exportName(fn *ast.FuncDecl) (string, bool) {
	if fn.Doc == nil {
		return "", false
	}
	for _, c := range fn.Doc.List {
		if rest, ok := strings.CutPrefix(c.Text, exportPrefix); ok {
			return strings.TrimSpace(rest), true
		}
	}
	return "", false
}

// checkExport reports every way fn breaks the rule. It returns the guard function
// when fn's first statement calls the correct one.
func checkExport(pass *analysis.Pass, fn *ast.FuncDecl) *types.Func {
	name := fn.Name.Name
	want := fmt.Sprintf("defer %s(&<result>)", guardName)

	result := namedResult(pass, fn)
	if result != nil {
		want = fmt.Sprintf("defer %s(&%s)", guardName, result.Name())
	} else {
		pass.Reportf(fn.Name.Pos(), "//export func %s must have exactly one result, and it must be named, so that %s can set it", name, guardName)
	}

	if fn.Body == nil || len(fn.Body.List) == 0 {
		pass.Reportf(fn.Name.Pos(), "//export func %s has no body statements; its first statement must be `%s`", name, want)
		return nil
	}

	call, callee := guardCall(fn.Body.List[0])
	if call == nil {
		if laterGuardCall(fn.Body.List[1:]) {
			pass.Reportf(fn.Name.Pos(), "//export func %s: `%s` must be its first statement", name, want)
		} else {
			pass.Reportf(fn.Name.Pos(), "//export func %s does not start with `%s`", name, want)
		}
		return nil
	}

	var guard *types.Func
	obj := pass.TypesInfo.Uses[callee]
	if g, ok := obj.(*types.Func); ok && g.Name() == guardName && g.Parent() == pass.Pkg.Scope() {
		guard = g
	} else {
		pass.Reportf(fn.Name.Pos(), "//export func %s: deferred %s is %s, not the package-level func %s of package %s",
			name, types.ExprString(call.Fun), describe(pass, obj), guardName, pass.Pkg.Name())
	}

	if result != nil && !isAddrOf(pass, call.Args[0], result) {
		pass.Reportf(fn.Name.Pos(), "//export func %s: %s must receive &%s (its named result), not %s",
			name, guardName, result.Name(), types.ExprString(call.Args[0]))
	}
	return guard
}

// namedResult returns fn's only result if it is named (and not blank), else nil.
func namedResult(pass *analysis.Pass, fn *ast.FuncDecl) *types.Var {
	res := fn.Type.Results
	if res == nil || res.NumFields() != 1 || len(res.List[0].Names) != 1 {
		return nil
	}
	id := res.List[0].Names[0]
	if id.Name == "_" {
		return nil
	}
	v, _ := pass.TypesInfo.Defs[id].(*types.Var)
	return v
}

// guardCall matches `defer guard(arg)` and `defer pkg.Guard(arg)` (any case, so that a
// look-alike from elsewhere is named in the message) with exactly one argument. It
// returns the call and the identifier naming the callee.
func guardCall(stmt ast.Stmt) (*ast.CallExpr, *ast.Ident) {
	d, ok := stmt.(*ast.DeferStmt)
	if !ok || len(d.Call.Args) != 1 || d.Call.Ellipsis.IsValid() {
		return nil, nil
	}
	var id *ast.Ident
	switch fun := d.Call.Fun.(type) {
	case *ast.Ident:
		id = fun
	case *ast.SelectorExpr:
		id = fun.Sel
	default:
		return nil, nil
	}
	if !strings.EqualFold(id.Name, guardName) {
		return nil, nil
	}
	return d.Call, id
}

// isAddrOf reports whether e is exactly &v.
func isAddrOf(pass *analysis.Pass, e ast.Expr, v *types.Var) bool {
	u, ok := e.(*ast.UnaryExpr)
	if !ok || u.Op != token.AND {
		return false
	}
	x, ok := u.X.(*ast.Ident)
	return ok && pass.TypesInfo.Uses[x] == v
}

// laterGuardCall reports whether one of stmts (at the top level) is `defer guard(...)`,
// to tell "in the wrong place" from "missing" in the message.
func laterGuardCall(stmts []ast.Stmt) bool {
	for _, s := range stmts {
		if call, _ := guardCall(s); call != nil {
			return true
		}
	}
	return false
}

// describe names what an identifier resolved to, for messages.
func describe(pass *analysis.Pass, obj types.Object) string {
	switch {
	case obj == nil:
		return "unresolved"
	case isMethod(obj):
		return fmt.Sprintf("a method of %s", obj.(*types.Func).Signature().Recv().Type())
	case obj.Pkg() != nil && obj.Pkg() != pass.Pkg:
		return fmt.Sprintf("%s %s of package %s", kind(obj), obj.Name(), obj.Pkg().Path())
	case obj.Parent() == pass.Pkg.Scope():
		return "a package-level " + kind(obj)
	default:
		return fmt.Sprintf("a local %s declared at %s", kind(obj), pass.Fset.Position(obj.Pos()))
	}
}

// isMethod reports whether obj is a method.
func isMethod(obj types.Object) bool {
	f, ok := obj.(*types.Func)
	return ok && f.Signature().Recv() != nil
}

// kind is a short noun for the class of obj.
func kind(obj types.Object) string {
	switch obj.(type) {
	case *types.Var:
		return "variable"
	case *types.Func:
		return "func"
	case *types.Const:
		return "constant"
	case *types.TypeName:
		return "type"
	default:
		return fmt.Sprintf("%T", obj)
	}
}

// checkRecovers reports a guard whose body does not call the builtin recover directly.
// recover only stops a panic when the deferred function itself calls it, so a call
// inside a nested func literal does not count.
func checkRecovers(pass *analysis.Pass, guard *types.Func) {
	for _, file := range pass.Files {
		for _, decl := range file.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || pass.TypesInfo.Defs[fn.Name] != guard {
				continue
			}
			found := false
			if fn.Body != nil {
				ast.Inspect(fn.Body, func(n ast.Node) bool {
					switch n := n.(type) {
					case *ast.FuncLit:
						return false
					case *ast.CallExpr:
						if id, ok := ast.Unparen(n.Fun).(*ast.Ident); ok {
							if b, ok := pass.TypesInfo.Uses[id].(*types.Builtin); ok && b.Name() == "recover" {
								found = true
							}
						}
					}
					return !found
				})
			}
			if !found {
				pass.Reportf(fn.Name.Pos(), "func %s must call recover() directly, or panics in //export functions escape to C", guardName)
			}
			return
		}
	}
}

// checkCgoExports reports each symbol cgo exports from this package whose //export
// function was not seen, which would mean the check missed it.
func checkCgoExports(pass *analysis.Pass, checked map[string]bool) {
	for _, file := range pass.Files {
		for _, group := range file.Comments {
			for _, c := range group.List {
				rest, ok := strings.CutPrefix(c.Text, cgoExportPrefix)
				if !ok {
					continue
				}
				// The directive is "name" or "name externalname"; the first word is the Go-side export.
				fields := strings.Fields(rest)
				if len(fields) > 0 && !checked[fields[0]] {
					pass.Reportf(c.Pos(), "cgo exports %s, but no //export func %s was checked", fields[0], fields[0])
				}
			}
		}
	}
}
