package train

import (
	"fmt"
)

// A Trainer needs a Model (Forward to logits, Backward from dlogits, the
// trainable parameters marked in its nn tree), a Dataset and Args named as
// Hugging Face's TrainingArguments.
func Example() {
	model := newTiny(16, 32, 4, 7)     // a 2-layer perceptron over 4x4 inputs
	trainSet := newBlobs(320, 4, 4, 1) // 4 classes of noisy blobs
	testSet := newBlobsNoise(160, 4, 4, 1, 1)

	args := DefaultArgs()
	args.LearningRate = 1e-2
	args.PerDeviceTrainBatchSize = 8
	args.PerDeviceEvalBatchSize = 32
	args.MaxSteps = 40
	args.SaveSteps = 0 // no output_dir: no checkpoints, no metrics file
	args.Quiet = true

	tr := &Trainer{Args: args, Model: model, TrainData: trainSet, EvalData: testSet}
	res, err := tr.Train()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d steps, test accuracy above 90%%: %v\n", res.GlobalStep, res.Eval.Accuracy > 0.9)
	// Output: 40 steps, test accuracy above 90%: true
}
