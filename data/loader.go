package data

import "fmt"

// LoaderConfig sets how a Loader batches a dataset.
type LoaderConfig struct {
	BatchSize int
	DropLast  bool   // skip the last batch of an epoch when it is partial
	Shuffle   bool   // visit examples in Order(n, Seed, epoch) instead of 0..n-1
	Seed      uint64 // shuffling seed
}

// Loader fills reusable batch buffers from a dataset. Its position is
// (epoch, pos): the epoch picks the order, pos is how many examples of that
// order were already handed out. A trainer that saves (Epoch(), Pos()) and
// later calls Seek with them gets the same batches from there on.
type Loader struct {
	// PixelValues holds the current batch as [Size, C, H, W] in its first
	// Size·C·H·W values; the BatchSize·C·H·W buffer is reused by every batch.
	PixelValues []float32
	// Labels holds the current batch's labels in its first Size values.
	Labels []int32
	// Size is the number of examples in the current batch.
	Size int

	ds    *Dataset
	proc  *Processor
	cfg   LoaderConfig
	order []int
	epoch int
	pos   int
}

// NewLoader checks every image of ds against the processor once, so that
// batching cannot fail later, and positions the loader at (0, 0).
func NewLoader(ds *Dataset, proc *Processor, cfg LoaderConfig) (*Loader, error) {
	if cfg.BatchSize <= 0 {
		return nil, fmt.Errorf("data: batch size %d; want positive", cfg.BatchSize)
	}
	if err := ds.validate(); err != nil {
		return nil, err
	}
	for i, img := range ds.Images {
		if err := proc.Check(img); err != nil {
			return nil, fmt.Errorf("data: %s: example %d: %w", ds.Name, i, err)
		}
	}
	l := &Loader{
		PixelValues: make([]float32, cfg.BatchSize*proc.Len()),
		Labels:      make([]int32, cfg.BatchSize),
		ds:          ds, proc: proc, cfg: cfg,
	}
	if err := l.Seek(0, 0); err != nil {
		return nil, err
	}
	return l, nil
}

// Batch returns the current batch: pixel values [Size, C, H, W] and labels,
// views of the reused buffers.
func (l *Loader) Batch() (pixelValues []float32, labels []int32) {
	return l.PixelValues[:l.Size*l.proc.Len()], l.Labels[:l.Size]
}

// BatchesPerEpoch is the number of batches Next yields in one epoch.
func (l *Loader) BatchesPerEpoch() int {
	n, b := l.ds.Len(), l.cfg.BatchSize
	if l.cfg.DropLast {
		return n / b
	}
	return (n + b - 1) / b
}

// Seek positions the loader so that the next batch starts at example pos of
// epoch's order.
func (l *Loader) Seek(epoch, pos int) error {
	if epoch < 0 || pos < 0 || pos > l.ds.Len() {
		return fmt.Errorf("data: cannot seek to epoch %d, position %d of %d examples", epoch, pos, l.ds.Len())
	}
	if l.order == nil || epoch != l.epoch {
		if l.cfg.Shuffle {
			l.order = Order(l.ds.Len(), l.cfg.Seed, epoch)
		} else {
			l.order = make([]int, l.ds.Len())
			for i := range l.order {
				l.order[i] = i
			}
		}
	}
	l.epoch, l.pos = epoch, pos
	return nil
}

// Epoch and Pos give the position of the next batch.
func (l *Loader) Epoch() int { return l.epoch }
func (l *Loader) Pos() int   { return l.pos }

// Next fills the buffers with the next batch of the current epoch and
// reports whether there was one. At the end of an epoch it returns false;
// call Seek(Epoch()+1, 0) to go on.
func (l *Loader) Next() bool {
	rest := len(l.order) - l.pos
	n := min(rest, l.cfg.BatchSize)
	if n == 0 || (l.cfg.DropLast && n < l.cfg.BatchSize) {
		return false
	}
	l.Fill(l.order[l.pos : l.pos+n])
	l.pos += n
	return true
}

// Fill processes the examples at indices (at most BatchSize of them) into
// the buffers, whatever the loader's position: for evaluation in a fixed
// order, or any order the caller chooses.
func (l *Loader) Fill(indices []int) {
	if len(indices) > l.cfg.BatchSize {
		panic(fmt.Sprintf("data: Fill with %d indices, batch size %d", len(indices), l.cfg.BatchSize))
	}
	per := l.proc.Len()
	for i, j := range indices {
		// Images were checked in NewLoader, so Process cannot fail here.
		if err := l.proc.Process(l.PixelValues[i*per:(i+1)*per], l.ds.Images[j]); err != nil {
			panic("data: " + err.Error())
		}
		l.Labels[i] = int32(l.ds.Labels[j])
	}
	l.Size = len(indices)
}
