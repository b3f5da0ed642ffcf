package main

import (
	"fmt"
	"io"
)

// columns prints a table with one column per item: a header row of names,
// then rows whose cells a function derives from each item. The bench and
// plan reports share it.
type columns[T any] struct {
	w            io.Writer
	label, width int // widths of the label column and of each item column
	items        []T
}

// header prints the label column blank and each item's name.
func (c columns[T]) header(name func(T) string) {
	c.row("", name)
}

// row prints one labelled row.
func (c columns[T]) row(label string, cell func(T) string) {
	fmt.Fprintf(c.w, "%-*s", c.label, label)
	for _, it := range c.items {
		fmt.Fprintf(c.w, "%*s", c.width, cell(it))
	}
	fmt.Fprintln(c.w)
}
