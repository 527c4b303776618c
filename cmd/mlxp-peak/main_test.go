package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestJSON runs a short measurement and checks the document's keys and that every figure
// is positive (no timing is asserted).
func TestJSON(t *testing.T) {
	var buf bytes.Buffer
	if err := run([]string{"-threads", "2", "-duration", "5ms", "-repeats", "1", "-buffer-mib", "4"}, &buf); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("%v in %s", err, buf.String())
	}
	for _, k := range []string{"fma_gflops", "read_gbs", "copy_gbs", "fma_gflops_by_isa", "isa", "threads", "cpu"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("missing key %q in %s", k, buf.String())
		}
	}
	for _, k := range []string{"fma_gflops", "read_gbs", "copy_gbs"} {
		p, _ := doc[k].(map[string]any)
		for _, n := range []string{"1", "all"} {
			if v, _ := p[n].(float64); !(v > 0) {
				t.Errorf("%s[%s] = %v, want > 0", k, n, p[n])
			}
		}
	}
	by, _ := doc["fma_gflops_by_isa"].(map[string]any)
	if _, ok := by[doc["isa"].(string)]; !ok {
		t.Errorf("fma_gflops_by_isa lacks the selected isa %v", doc["isa"])
	}
	if doc["threads"] != 2.0 {
		t.Errorf("threads = %v, want 2", doc["threads"])
	}
}

// TestBandwidthOnly checks -isa none measures the bandwidths and leaves out the FMA keys.
func TestBandwidthOnly(t *testing.T) {
	var buf bytes.Buffer
	if err := run([]string{"-isa", "none", "-repeats", "1", "-buffer-mib", "4"}, &buf); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("%v in %s", err, buf.String())
	}
	for _, k := range []string{"fma_gflops", "fma_gflops_by_isa"} {
		if _, ok := doc[k]; ok {
			t.Errorf("key %q present with -isa none: %s", k, buf.String())
		}
	}
	for _, k := range []string{"read_gbs", "copy_gbs"} {
		p, _ := doc[k].(map[string]any)
		if v, _ := p["all"].(float64); !(v > 0) {
			t.Errorf("%s[all] = %v, want > 0", k, p["all"])
		}
	}
}

// TestText checks the table names every row.
func TestText(t *testing.T) {
	var buf bytes.Buffer
	if err := run([]string{"-text", "-isa", "selected", "-duration", "5ms", "-repeats", "1", "-buffer-mib", "4"}, &buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"cpu:", "fma GFLOP/s [", "read GB/s", "copy GB/s"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, buf.String())
		}
	}
}

// TestBadFlags checks invalid flags are reported as errors.
func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-isa", "sse"}, {"-threads", "-1"}, {"-buffer-mib", "0"}, {"-repeats", "0"}, {"-duration", "0s"}, {"extra"}} {
		if err := run(args, &bytes.Buffer{}); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
