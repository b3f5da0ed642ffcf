// Package assets holds the small base model golora ships, embedded in the
// binary so that "golora demo" needs nothing but Go: a ViT (28×28 gray
// images, patch 4) pretrained by "golora pretrain" on MNIST digits 0-4.
// The README gives the exact command that made it.
package assets
