package train_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/golora/golora/collective"
	"github.com/golora/golora/models/bert"
	"github.com/golora/golora/models/llama"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/peft/lora"
	"github.com/golora/golora/train"
)

// TestTextDataParallel: a LLaMA with LoRA (LoRA and attention dropout on)
// and a BERT trained in full (hidden and attention dropout on) on 2
// in-process ranks with batch b end where one process with batch 2b does,
// at every ZeRO stage (the models' nn.GradUnits drive stage 2's per-part
// reduce-scatter; nn.SetBatchShard keys the dropout masks by the global
// batch). The sequences have one length, so the shards' batches are the
// global batch's rows (padding to a shard's longest would change T).
func TestTextDataParallel(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a few dozen steps")
	}
	lmData, _ := train.CausalLM(counting(32, 10, 24, 0), 0)
	lmEval, _ := train.CausalLM(counting(8, 10, 24, 1), 0)
	var seqs [][]int32
	var labels []int32
	for i := range 32 {
		s := []int32{2}
		for j := range 7 {
			s = append(s, int32(5+(i*3+j*5)%15+15*(i%2)))
		}
		seqs, labels = append(seqs, s), append(labels, int32(i%2))
	}
	clsData, _ := train.SequenceClassification(seqs, labels, 2, 0)
	newLlama := func() nn.Module {
		c := llama.Preset(32, 2, 4, 2, 24, 16)
		c.IntermediateSize, c.AttentionDropout = 48, 0.1
		m, err := llama.New(c, 1)
		if err != nil {
			t.Fatal(err)
		}
		lc := lora.DefaultConfig()
		lc.R, lc.LoraAlpha, lc.LoraDropout = 4, 8, 0.1
		lc.TargetModules = lora.TargetList("q_proj", "v_proj")
		if _, err := lora.Inject(m, lc, 3); err != nil {
			t.Fatal(err)
		}
		return m
	}
	newBert := func() nn.Module {
		c := bert.Preset(32, 2, 2, 48, 16)
		c.VocabSize = 40
		m, err := bert.New(c, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range nn.AllParams(m) {
			p.SetTrainable(true)
		}
		return m
	}
	for _, c := range []struct {
		name     string
		model    func() nn.Module
		data     train.Dataset
		eval     train.Dataset
		lr       float64
		numUnits int
	}{
		{"llama-lora", newLlama, lmData, lmEval, 1e-2, 2 + 2 + 1},
		{"bert-full", newBert, clsData, clsData, 3e-3, 2 + 2 + 1},
	} {
		if u, ok := c.model().(nn.GradUnits); !ok || len(u.GradUnits()) != c.numUnits {
			t.Fatalf("%s: no nn.GradUnits, or not %d units", c.name, c.numUnits)
		}
		run := func(world, batch, stage int) map[string][]float32 {
			vals := make([]map[string][]float32, world)
			err := collective.Run(world, func(comm collective.Comm) error {
				a := train.DefaultArgs()
				a.LearningRate, a.MaxSteps, a.PerDeviceTrainBatchSize, a.PerDeviceEvalBatchSize = c.lr, 12, batch, 8
				a.LoggingSteps, a.SaveSteps, a.Quiet, a.ZeroStage, a.MaxGradNorm = 0, 0, true, stage, 0.5
				m := c.model()
				tr := &train.Trainer{Args: a, Model: m.(train.Model), TrainData: c.data, EvalData: c.eval, Comm: comm}
				if _, err := tr.Train(); err != nil {
					return err
				}
				vals[comm.Rank()] = trainable(m)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if d := rel(vals[world-1], vals[0]); d != 0 {
				t.Fatalf("%s: ranks end %g apart", c.name, d)
			}
			return vals[0]
		}
		one := run(1, 8, 0)
		if d := rel(one, trainable(c.model())); d < 1e-2 {
			t.Fatalf("%s: values barely moved (%g)", c.name, d)
		}
		for stage := 0; stage <= 2; stage++ {
			what := fmt.Sprintf("%s stage %d", c.name, stage)
			if d := rel(run(2, 4, stage), one); d > 1e-5 {
				t.Errorf("%s: 2 ranks x batch 4 differ from 1 x 8 by %g", what, d)
			} else {
				t.Logf("%s: 2 ranks vs one process: %.2g", what, d)
			}
		}
	}
}

func trainable(m nn.Module) map[string][]float32 {
	out := map[string][]float32{}
	for _, p := range nn.TrainableParams(m) {
		out[p.Name] = append([]float32(nil), p.Value.F32()...)
	}
	return out
}

// rel is max|a-b| / max|b| over all values.
func rel(a, b map[string][]float32) float64 {
	var diff, scale float64
	for name, bv := range b {
		av := a[name]
		if len(av) != len(bv) {
			return math.Inf(1)
		}
		for i := range bv {
			diff = math.Max(diff, math.Abs(float64(av[i]-bv[i])))
			scale = math.Max(scale, math.Abs(float64(bv[i])))
		}
	}
	return diff / scale
}
