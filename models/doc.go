// Package models is what every model family shares: the Model interface
// that the trainer, the planner and the command line use, whatever the
// architecture, and the registry of families (vit, and the text models)
// by the model_type of a Hugging Face config.json.
//
// A family registers itself from its package's init function
// (models/vit does); a program that wants a family imports its package.
// Load then reads any registered model directory:
//
//	m, err := models.Load("assets/vit-mnist-0-4", models.LoadOptions{})
//
// and everything above works on m through Model: batches (data.Batch)
// in, logits out, a backward that stops below the lowest trainable
// module, declared costs for the planner, gradient checkpointing, saving
// in Hugging Face's format.
//
// Sizes: a family's Load and FromConfig must refuse absurd sizes before
// allocating anything, with a one-line error naming the field and the
// bytes: bounded size fields in its Config.Validate, the parameter count
// against the weights file and the memory available. internal/sizecheck
// has the helpers and describes the pattern; models/vit follows it. The
// registry reads config.json with sizecheck.ReadFile (at most
// sizecheck.MaxConfigFile bytes).
//
// Stack runs a family's transformer blocks (every Block) on one set of
// handed-over buffers, with gradient checkpointing and the blocks' input
// gradients in two buffers by parity; vit, llama and bert use it.
//
// Optional: a family whose Backward reports each block as it finishes it
// (nn.GradUnits, as the ViT does) lets data-parallel ZeRO-2 reduce the
// gradients block by block, so a rank never holds the whole gradient; its
// dropout layers should draw their masks at nn.ShardOffset so that
// data-parallel runs draw the masks of one process (nn.SetBatchShard).
package models
