// Package cpu detects CPU features, chooses the kernel path (ISA) once at start-up, and
// runs parallel loops on a pool whose size SetNumThreads controls.
package cpu

import (
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/cpu"
)

// ISA names a family of kernels. Higher values need more of the CPU.
type ISA int

// The kernel paths, in priority order.
const (
	Generic ISA = iota // plain Go, every machine
	AVX2               // AVX2 + FMA (amd64)
	AVX512             // AVX-512 F/BW/VL/DQ (amd64)
)

// String returns the name MLXP_ISA accepts for the path.
func (i ISA) String() string {
	switch i {
	case AVX2:
		return "avx2"
	case AVX512:
		return "avx512"
	}
	return "generic"
}

// ParseISA maps an MLXP_ISA value to an ISA.
func ParseISA(s string) (ISA, bool) {
	for _, i := range []ISA{Generic, AVX2, AVX512} {
		if strings.EqualFold(strings.TrimSpace(s), i.String()) {
			return i, true
		}
	}
	return Generic, false
}

// The detected capabilities, set once. Each names what a kernel path needs.
var (
	hasAVX2   = runtime.GOARCH == "amd64" && cpu.X86.HasAVX2 && cpu.X86.HasFMA
	hasAVX512 = hasAVX2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW &&
		cpu.X86.HasAVX512VL && cpu.X86.HasAVX512DQ
)

// Best returns the most capable path this CPU supports.
func Best() ISA {
	switch {
	case hasAVX512:
		return AVX512
	case hasAVX2:
		return AVX2
	}
	return Generic
}

// Available lists every path this CPU supports, from Generic up. Tests run each one.
func Available() []ISA {
	out := []ISA{Generic}
	for i := Generic + 1; i <= Best(); i++ {
		out = append(out, i)
	}
	return out
}

// selected is the path kernels dispatch to; see Selected.
var selected = chooseISA(os.Getenv("MLXP_ISA"))

// chooseISA lowers Best() to the requested path when the request names a lower one.
func chooseISA(request string) ISA {
	want, ok := ParseISA(request)
	if !ok || want > Best() {
		return Best()
	}
	return want
}

// Selected returns the kernel path in use: Best(), lowered by MLXP_ISA (read at start-up).
func Selected() ISA { return selected }

// UseISA switches the kernel path (tests use it to run every path) and returns a function
// that restores the previous one. It panics if the CPU lacks isa. Not safe to call while
// kernels run on other goroutines.
func UseISA(isa ISA) (restore func()) {
	if isa > Best() {
		panic("cpu: " + isa.String() + " is not supported by this CPU")
	}
	prev := selected
	selected = isa
	return func() { selected = prev }
}

// Features returns the detected feature names, space-separated, in a fixed order.
func Features() string {
	var names []string
	add := func(ok bool, name string) {
		if ok {
			names = append(names, name)
		}
	}
	switch runtime.GOARCH {
	case "amd64", "386":
		x := cpu.X86
		add(x.HasSSE42, "sse4.2")
		add(x.HasAVX, "avx")
		add(x.HasAVX2, "avx2")
		add(x.HasFMA, "fma")
		add(x.HasF16C, "f16c")
		add(x.HasAVX512F, "avx512f")
		add(x.HasAVX512BW, "avx512bw")
		add(x.HasAVX512VL, "avx512vl")
		add(x.HasAVX512DQ, "avx512dq")
		add(x.HasAVX512BF16, "avx512bf16")
		add(x.HasAVX512VNNI, "avx512vnni")
	case "arm64":
		add(cpu.ARM64.HasASIMD, "neon")
	}
	return strings.Join(names, " ")
}
