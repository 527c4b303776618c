// Command mlxp-peak measures the machine's limits (FMA GFLOP/s per kernel path, memory
// read and copy GB/s, each on 1 thread and on all threads) so that benchmark figures can
// be read as a fraction of them. It prints JSON by default:
//
//	{"fma_gflops": {"1": 150.2, "all": 300.1}, "read_gbs": {"1": 20.3, "all": 35.0},
//	 "copy_gbs": {...}, "fma_gflops_by_isa": {"avx2": {...}, ...},
//	 "isa": "avx512", "threads": 2, "cpu": "AMD EPYC", ...}
//
// fma_gflops is the selected path's figure (MLXP_ISA lowers it). With -isa none only the
// bandwidths are measured (well under a second) and the two fma keys are left out, for a
// benchmark that re-reads the bandwidth next to each memory-bound case. Usage:
//
//	mlxp-peak [-text] [-threads N] [-duration 200ms] [-repeats 3] [-buffer-mib 256] [-isa all|selected|none]
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/cpu/peak"
)

// pair is a peak.Pair as JSON, keyed by thread count.
type pair struct {
	One float64 `json:"1"`
	All float64 `json:"all"`
}

// output is the JSON document the command prints.
type output struct {
	FMA         *pair           `json:"fma_gflops,omitempty"`
	Read        pair            `json:"read_gbs"`
	Copy        pair            `json:"copy_gbs"`
	FMAByISA    map[string]pair `json:"fma_gflops_by_isa,omitempty"`
	ISA         string          `json:"isa"`
	Threads     int             `json:"threads"`
	CPU         string          `json:"cpu"`
	Features    string          `json:"features"`
	BufferBytes int             `json:"buffer_bytes"`
	Repeats     int             `json:"repeats"`
	DurationMS  float64         `json:"fma_duration_ms"`
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mlxp-peak:", err)
		os.Exit(2)
	}
}

func run(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("mlxp-peak", flag.ContinueOnError)
	text := fs.Bool("text", false, "print a table instead of JSON")
	threads := fs.Int("threads", 0, "threads for the \"all\" figures (0 = number of CPUs)")
	dur := fs.Duration("duration", 200*time.Millisecond, "length of one FMA repeat")
	repeats := fs.Int("repeats", 3, "repeats per figure (the best is kept)")
	bufMiB := fs.Int("buffer-mib", 256, "bandwidth buffer in MiB (much larger than the last-level cache)")
	which := fs.String("isa", "all", "paths whose FMA peak is measured: all, selected or none")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *threads < 0 {
		return fmt.Errorf("-threads: must be >= 0, got %d", *threads)
	}
	if *threads == 0 {
		*threads = runtime.NumCPU()
	}
	if *repeats < 1 {
		return fmt.Errorf("-repeats: must be >= 1, got %d", *repeats)
	}
	if *dur <= 0 {
		return fmt.Errorf("-duration: must be positive, got %v", *dur)
	}
	if *bufMiB < 1 || *bufMiB > 1<<16 {
		return fmt.Errorf("-buffer-mib: must be 1..65536, got %d", *bufMiB)
	}
	opts := peak.Options{Threads: *threads, Duration: *dur, Repeats: *repeats, BufferBytes: *bufMiB << 20}
	switch *which {
	case "all":
	case "selected":
		opts.ISAs = []cpu.ISA{peak.Selected()}
	case "none":
		opts.ISAs = []cpu.ISA{}
	default:
		return fmt.Errorf("-isa: want all, selected or none, got %q", *which)
	}
	// Each measuring goroutine needs its own processor.
	runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0), *threads))
	r, err := peak.Measure(opts)
	if err != nil {
		return err
	}
	out := output{
		Read:        pair(r.Read),
		Copy:        pair(r.Copy),
		FMAByISA:    map[string]pair{},
		ISA:         r.ISA.String(),
		Threads:     r.Threads,
		CPU:         cpuModel(),
		Features:    cpu.Features(),
		BufferBytes: r.BufferBytes,
		Repeats:     opts.Repeats,
		DurationMS:  float64(opts.Duration) / float64(time.Millisecond),
	}
	for isa, p := range r.FMA {
		out.FMAByISA[isa.String()] = pair(p)
	}
	if p, ok := r.FMA[r.ISA]; ok {
		out.FMA = &pair{p.One, p.All}
	}
	if *text {
		return writeText(w, out, r)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// writeText prints the report as a table.
func writeText(w io.Writer, o output, r peak.Report) error {
	fmt.Fprintf(w, "cpu: %s (%s)\n", o.CPU, o.Features)
	fmt.Fprintf(w, "selected isa: %s, threads for \"all\": %d, buffer: %d MiB\n\n", o.ISA, o.Threads, o.BufferBytes>>20)
	fmt.Fprintf(w, "%-24s %12s %12s\n", "measure", "1 thread", fmt.Sprintf("%d threads", o.Threads))
	for _, isa := range peak.Paths() {
		if p, ok := r.FMA[isa]; ok {
			fmt.Fprintf(w, "%-24s %12.1f %12.1f\n", "fma GFLOP/s ["+isa.String()+"]", p.One, p.All)
		}
	}
	fmt.Fprintf(w, "%-24s %12.1f %12.1f\n", "read GB/s", o.Read.One, o.Read.All)
	_, err := fmt.Fprintf(w, "%-24s %12.1f %12.1f\n", "copy GB/s (read+write)", o.Copy.One, o.Copy.All)
	return err
}

// cpuModel returns the processor's model name from /proc/cpuinfo, or the architecture.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}
