package tensor

import (
	"slices"
	"testing"

	"github.com/mlxprim/mlxprim/core/errs"
)

func TestBroadcastShapes(t *testing.T) {
	ok := []struct{ a, b, want []int }{
		{[]int{}, []int{3}, []int{3}},
		{[]int{2, 1, 4}, []int{3, 1}, []int{2, 3, 4}},
		{[]int{1}, []int{0}, []int{0}},
		{[]int{5, 1}, []int{5, 7}, []int{5, 7}},
	}
	for _, c := range ok {
		got, err := BroadcastShapes(c.a, c.b)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("BroadcastShapes(%v, %v) = %v, %v; want %v", c.a, c.b, got, err, c.want)
		}
	}
	if _, err := BroadcastShapes([]int{2, 3}, []int{4, 3}); errs.KindOf(err) != errs.ShapeMismatch {
		t.Errorf("2x3 vs 4x3: %v", err)
	}
}

func TestBroadcastToReadsTheSourceElements(t *testing.T) {
	data := []float32{10, 20, 30}
	src := FromFloat32(data, 3, 1)
	b, err := BroadcastTo("bias", src, []int{2, 3, 4})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(b.Strides, []int{0, 1, 0}) {
		t.Fatalf("strides %v", b.Strides)
	}
	row := make([]float32, 4)
	for r := 0; r < b.NumRows(); r++ {
		b.LoadRow(b.RowOffset(r), row)
		want := data[r%3]
		for _, v := range row {
			if v != want {
				t.Fatalf("row %d = %v, want all %v", r, row, want)
			}
		}
	}
	for _, bad := range [][]int{{3}, {2, 4, 4}} {
		if _, err := BroadcastTo("bias", src, bad); errs.KindOf(err) != errs.ShapeMismatch {
			t.Errorf("BroadcastTo %v: %v", bad, err)
		}
	}
}
