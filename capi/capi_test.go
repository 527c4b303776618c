package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mlxprim/mlxprim/core/errs"
)

// TestGuardRecoversPanics checks that a panic in an exported function becomes
// MLXP_ERR_INTERNAL with the panic's message on the calling thread.
func TestGuardRecoversPanics(t *testing.T) {
	st := func() (status statusCode) {
		defer guard(&status)
		var m map[string]int
		m["boom"]++ // a nil-map write panics
		return 0
	}()
	if st != statusCode(errs.Internal) {
		t.Fatalf("status %d, want MLXP_ERR_INTERNAL", st)
	}
	if msg := lastError(); !strings.Contains(msg, "nil map") {
		t.Fatalf("last error %q does not carry the panic", msg)
	}
}

// TestVersionMatchesHeader checks the Go constants against the header's macros.
func TestVersionMatchesHeader(t *testing.T) {
	header, err := os.ReadFile("../include/mlxprim.h")
	if err != nil {
		t.Fatal(err)
	}
	macro := func(name string) int {
		m := regexp.MustCompile(`#define ` + name + ` (\d+)`).FindSubmatch(header)
		if m == nil {
			t.Fatalf("header lacks %s", name)
		}
		v, _ := strconv.Atoi(string(m[1]))
		return v
	}
	want := map[string]int{
		"MLXP_VERSION_MAJOR": versionMajor, "MLXP_VERSION_MINOR": versionMinor,
		"MLXP_VERSION_PATCH": versionPatch, "MLXP_ABI_VERSION": abiVersion,
		"MLXP_VERSION_NUMBER": versionMajor*1000000 + versionMinor*1000 + versionPatch,
	}
	for name, v := range want {
		if got := macro(name); got != v {
			t.Errorf("%s = %d in the header, %d in the library", name, got, v)
		}
	}
	s := fmt.Sprintf(`#define MLXP_VERSION_STRING "%d.%d.%d"`, versionMajor, versionMinor, versionPatch)
	if !strings.Contains(string(header), s) {
		t.Errorf("header lacks %s", s)
	}
}

// TestLayoutMatchesStandaloneC compiles the header alone as C99 and as C++11, prints
// every size and offset the library reads, and compares with cgo's view. The DLPack
// DLTensor layout is also pinned: any drift breaks zero-copy exchange.
func TestLayoutMatchesStandaloneC(t *testing.T) {
	layout := cLayout()
	dlpack := map[string]uintptr{
		"mlxp_tensor.size": 48, "mlxp_tensor.data": 0, "mlxp_tensor.device": 8, "mlxp_tensor.ndim": 16,
		"mlxp_tensor.dtype": 20, "mlxp_tensor.shape": 24, "mlxp_tensor.strides": 32, "mlxp_tensor.byte_offset": 40,
		"mlxp_device.size": 8, "mlxp_dtype.size": 4, "mlxp_dtype.code": 0, "mlxp_dtype.bits": 1, "mlxp_dtype.lanes": 2,
	}
	for k, v := range dlpack {
		if layout[k] != v {
			t.Errorf("%s = %d, DLPack's DLTensor has %d", k, layout[k], v)
		}
	}
	keys := make([]string, 0, len(layout))
	for k := range layout {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var src strings.Builder
	src.WriteString("#include <stdio.h>\n#include <stddef.h>\n#include \"mlxprim.h\"\nint main(void) {\n")
	for _, k := range keys {
		typ, field, _ := strings.Cut(k, ".")
		expr := fmt.Sprintf("offsetof(%s, %s)", typ, field)
		if field == "size" {
			expr = fmt.Sprintf("sizeof(%s)", typ)
		}
		fmt.Fprintf(&src, "  printf(\"%s %%zu\\n\", (size_t)%s);\n", k, expr)
	}
	src.WriteString("  return 0;\n}\n")
	dir := t.TempDir()
	include, _ := filepath.Abs("../include")
	for _, lang := range []struct{ compiler, file, std string }{{"cc", "layout.c", "-std=c99"}, {"c++", "layout.cpp", "-std=c++11"}} {
		path := filepath.Join(dir, lang.file)
		if err := os.WriteFile(path, []byte(src.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		bin := filepath.Join(dir, "layout-"+lang.compiler)
		cmd := exec.Command(lang.compiler, lang.std, "-pedantic-errors", "-Wall", "-Werror", "-I", include, path, "-o", bin)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", lang.compiler, err, out)
		}
		out, err := exec.Command(bin).Output()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			var name string
			var v uintptr
			if _, err := fmt.Sscanf(line, "%s %d", &name, &v); err != nil {
				t.Fatalf("bad line %q", line)
			}
			if layout[name] != v {
				t.Errorf("%s: %s = %d, cgo sees %d", lang.compiler, name, v, layout[name])
			}
		}
	}
}

// TestHandleTokens checks that stale, foreign, wrong-kind and NULL tokens are refused and
// that tokens are never reused.
func TestHandleTokens(t *testing.T) {
	a := handles.add(kindRng, "a")
	b := handles.add(kindRng, "b")
	if a == b || a&magicMask != handleMagic {
		t.Fatalf("tokens %x %x", a, b)
	}
	if obj, err := handles.get(kindRng, "h", a); err != nil || obj != "a" {
		t.Fatalf("get live token: %v %v", obj, err)
	}
	wrongKind := a&^(0xff<<40) | 0x7f<<40
	for name, tok := range map[string]uint64{"null": 0, "foreign": 0x1234, "wrong kind": wrongKind} {
		if _, err := handles.get(kindRng, "h", tok); errs.KindOf(err) != errs.InvalidHandle {
			t.Errorf("%s token: %v", name, err)
		}
	}
	if err := handles.remove(kindRng, "h", a); err != nil {
		t.Fatal(err)
	}
	if _, err := handles.get(kindRng, "h", a); errs.KindOf(err) != errs.InvalidHandle {
		t.Errorf("stale token accepted: %v", err)
	}
	if err := handles.remove(kindRng, "h", a); errs.KindOf(err) != errs.InvalidHandle {
		t.Errorf("double remove accepted: %v", err)
	}
	if c := handles.add(kindRng, "c"); c == a || c == b {
		t.Errorf("token reused: %x", c)
	}
}
