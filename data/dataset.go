package data

import (
	"fmt"
	"slices"
	"strings"
)

// Dataset is a labelled set of images held in memory. Label i names class
// Classes[i]. Datasets derived by SelectClasses, Limit, Subset and
// SplitValidation share pixel memory with their source.
type Dataset struct {
	Name    string // for messages, e.g. "mnist/train"
	Classes []string
	Images  []Image
	Labels  []int
}

// Len is the number of examples.
func (d *Dataset) Len() int { return len(d.Images) }

// ClassCounts returns the number of examples of each class.
func (d *Dataset) ClassCounts() []int {
	counts := make([]int, len(d.Classes))
	for _, l := range d.Labels {
		counts[l]++
	}
	return counts
}

// SelectClasses keeps the examples of the given classes and renumbers them
// in the order given: SelectClasses(5, 6, 7, 8, 9) keeps the digits 5-9 as
// labels 0-4.
func (d *Dataset) SelectClasses(classes ...int) (*Dataset, error) {
	if len(classes) == 0 {
		return nil, fmt.Errorf("data: %s: no classes selected", d.Name)
	}
	remap := make([]int, len(d.Classes))
	for i := range remap {
		remap[i] = -1
	}
	names := make([]string, len(classes))
	for i, c := range classes {
		if c < 0 || c >= len(d.Classes) {
			return nil, fmt.Errorf("data: %s: class %d out of range [0, %d)", d.Name, c, len(d.Classes))
		}
		if remap[c] >= 0 {
			return nil, fmt.Errorf("data: %s: class %d selected twice", d.Name, c)
		}
		remap[c] = i
		names[i] = d.Classes[c]
	}
	out := &Dataset{Name: fmt.Sprintf("%s[classes %s]", d.Name, joinInts(classes)), Classes: names}
	for i, l := range d.Labels {
		if remap[l] >= 0 {
			out.Images = append(out.Images, d.Images[i])
			out.Labels = append(out.Labels, remap[l])
		}
	}
	return out, nil
}

// Limit returns the first n examples; n <= 0 or n >= Len keeps them all.
func (d *Dataset) Limit(n int) *Dataset {
	if n <= 0 || n >= d.Len() {
		n = d.Len()
	}
	return &Dataset{Name: d.Name, Classes: d.Classes, Images: d.Images[:n:n], Labels: d.Labels[:n:n]}
}

// Subset returns the examples at the given indices, in that order. An index
// out of range is a programming error and panics.
func (d *Dataset) Subset(indices []int) *Dataset {
	out := &Dataset{Name: d.Name, Classes: d.Classes,
		Images: make([]Image, len(indices)), Labels: make([]int, len(indices))}
	for i, j := range indices {
		if j < 0 || j >= d.Len() {
			panic(fmt.Sprintf("data: Subset index %d out of range [0, %d)", j, d.Len()))
		}
		out.Images[i], out.Labels[i] = d.Images[j], d.Labels[j]
	}
	return out
}

// SplitValidation splits d into a training and a validation part: a
// fraction of the examples, chosen by a permutation drawn from seed, goes to
// validation. Both parts keep d's order, and the same seed gives the same
// split.
func (d *Dataset) SplitValidation(fraction float64, seed uint64) (train, val *Dataset, err error) {
	if !(fraction >= 0 && fraction < 1) {
		return nil, nil, fmt.Errorf("data: validation fraction %v is not in [0, 1)", fraction)
	}
	nVal := int(fraction*float64(d.Len()) + 0.5)
	perm := Order(d.Len(), seed, -1) // epoch -1: a stream no training epoch uses
	valIdx, trainIdx := slices.Clone(perm[:nVal]), slices.Clone(perm[nVal:])
	slices.Sort(valIdx)
	slices.Sort(trainIdx)
	train, val = d.Subset(trainIdx), d.Subset(valIdx)
	train.Name, val.Name = d.Name+"[train split]", d.Name+"[validation split]"
	return train, val, nil
}

// validate checks that labels are in range and images are well formed.
func (d *Dataset) validate() error {
	if len(d.Images) != len(d.Labels) {
		return fmt.Errorf("data: %s: %d images but %d labels", d.Name, len(d.Images), len(d.Labels))
	}
	for i, l := range d.Labels {
		if l < 0 || l >= len(d.Classes) {
			return fmt.Errorf("data: %s: example %d has label %d, want [0, %d)", d.Name, i, l, len(d.Classes))
		}
	}
	return nil
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ",")
}
