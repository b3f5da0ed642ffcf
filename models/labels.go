package models

import (
	"fmt"
	"strconv"

	"github.com/golora/golora/internal/sizecheck"
)

// MaxLabels bounds num_labels and id2label (checked before the names are
// made; see internal/sizecheck).
const MaxLabels = 1 << 18

// DefaultLabels returns transformers' label names LABEL_0 … LABEL_{n-1}.
func DefaultLabels(n int) []string {
	l := make([]string, n)
	for i := range l {
		l[i] = "LABEL_" + strconv.Itoa(i)
	}
	return l
}

// ParseLabels applies PretrainedConfig's rule to config.json's label
// fields: id2label, when present, names the labels (and must agree with
// num_labels if that is given too); otherwise num_labels (default 2)
// gives LABEL_i names.
func ParseLabels(numLabels *int, id2label map[string]string) ([]string, error) {
	if id2label == nil {
		n := 2
		if numLabels != nil {
			n = *numLabels
		}
		if err := sizecheck.Int("field num_labels", int64(n), 1, MaxLabels); err != nil {
			return nil, err // before DefaultLabels allocates n names
		}
		return DefaultLabels(n), nil
	}
	if numLabels != nil && *numLabels != len(id2label) {
		return nil, fmt.Errorf("field num_labels: %d disagrees with the %d entries of id2label", *numLabels, len(id2label))
	}
	if len(id2label) == 0 {
		return nil, fmt.Errorf("field id2label: empty")
	}
	if err := sizecheck.Int("field id2label: entry count", int64(len(id2label)), 1, MaxLabels); err != nil {
		return nil, err
	}
	names := make([]string, len(id2label))
	for k, v := range id2label {
		i, err := strconv.Atoi(k)
		if err != nil || i < 0 || i >= len(id2label) {
			return nil, fmt.Errorf("field id2label: key %q is not a label id in [0,%d)", k, len(id2label))
		}
		names[i] = v
	}
	return names, nil
}

// LabelMaps returns config.json's id2label and label2id for names.
func LabelMaps(names []string) (map[string]string, map[string]int) {
	id2label, label2id := map[string]string{}, map[string]int{}
	for i, n := range names {
		id2label[strconv.Itoa(i)] = n
		label2id[n] = i
	}
	return id2label, label2id
}
