package dispatcher

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func names(n int, format string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(format, i)
	}
	return out
}

func TestTargetSetEncodeDecode(t *testing.T) {
	tests := []struct {
		name     string
		names    []string
		partSize int
		parts    int
	}{
		{"empty", nil, targetSetPartSize, 1},
		{"one", []string{"payments"}, targetSetPartSize, 1},
		{"duplicates and order do not matter", []string{"b", "a", "b"}, targetSetPartSize, 1},
		{"10,000 in one part", names(10000, "target-%05d"), targetSetPartSize, 1},
		{"10,000 in parts of 1 KiB", names(10000, "target-%05d"), 1024, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewTargetSet(tt.names)
			parts := s.encode(tt.partSize)
			if tt.parts > 0 && len(parts) != tt.parts {
				t.Errorf("%d parts, want %d", len(parts), tt.parts)
			}
			if tt.parts == 0 && len(parts) < 2 {
				t.Errorf("%d parts, want several", len(parts))
			}
			for i, p := range parts {
				if len(p) > tt.partSize {
					t.Errorf("part %d: %d bytes, over %d", i, len(p), tt.partSize)
				}
			}
			got, err := decodeTargetSet(parts, s.Hash())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(slices.Collect(got.All()), slices.Collect(s.All())) || got.Hash() != s.Hash() {
				t.Errorf("decoded %d names (hash %s), want %d (hash %s)", got.Len(), got.Hash(), s.Len(), s.Hash())
			}
			for _, n := range tt.names {
				if !got.Has(n) {
					t.Errorf("decoded set lacks %q", n)
				}
			}
			if got.Has("nope") {
				t.Error("decoded set has a name never put in")
			}
		})
	}
}

func TestTargetSetDecodeRefuses(t *testing.T) {
	a, b := NewTargetSet([]string{"a"}), NewTargetSet([]string{"a", "b"})
	bparts := b.encode(8)
	tests := []struct {
		name  string
		parts [][]byte
		want  string
		is    error
	}{
		{"another set (a newer one was written)", a.encode(targetSetPartSize), b.Hash(), errSetReplaced},
		{"a part missing", bparts[:len(bparts)-1], b.Hash(), ErrTargetSet},
		{"not gzip", [][]byte{[]byte(`{"id":"x"}`)}, a.Hash(), ErrTargetSet},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeTargetSet(tt.parts, tt.want)
			if !errors.Is(err, tt.is) || !errors.Is(err, ErrTargetSet) {
				t.Errorf("error %v, want one wrapping %v and ErrTargetSet", err, tt.is)
			}
		})
	}
}

func TestServingShare(t *testing.T) {
	ab, a := NewTargetSet([]string{"a", "b"}), NewTargetSet([]string{"a"})
	tests := []struct {
		name         string
		sets         map[string]*TargetSet
		target, id   string
		n, rank      int
		servers, unk []string
	}{
		{"alone", map[string]*TargetSet{"i1": ab}, "b", "i1", 1, 0, []string{"i1"}, nil},
		{"only one of two serves b", map[string]*TargetSet{"i1": a, "i2": ab}, "b", "i2", 1, 0, []string{"i2"}, nil},
		{"both serve a", map[string]*TargetSet{"i1": a, "i2": ab}, "a", "i2", 2, 1, []string{"i1", "i2"}, nil},
		{"a set not known counts as serving", map[string]*TargetSet{"i1": nil, "i2": ab}, "b", "i2", 2, 1, []string{"i2"}, []string{"i1"}},
		{"id joins even before its set shows the target", map[string]*TargetSet{"i1": a, "i2": a}, "b", "i2", 1, 0, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newServing(tt.sets)
			servers, unk := v.Servers(tt.target)
			if !slices.Equal(servers, tt.servers) || !slices.Equal(unk, tt.unk) {
				t.Errorf("Servers(%s) = %v, %v; want %v, %v", tt.target, servers, unk, tt.servers, tt.unk)
			}
			if n, rank := v.Share(tt.target, tt.id); n != tt.n || rank != tt.rank {
				t.Errorf("Share(%s, %s) = %d, %d; want %d, %d", tt.target, tt.id, n, rank, tt.n, tt.rank)
			}
			if v.Complete() != (tt.unk == nil) {
				t.Errorf("Complete() = %v with sets not known %v", v.Complete(), tt.unk)
			}
		})
	}
}
