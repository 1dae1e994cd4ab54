/**
 * `deno run -A metrics/fetch_inception.ts [path]`: downloads the FID Inception weights to `path`
 * (default: the cache dir) and checks their SHA-256 prefix; says where to put the file when the
 * URL cannot be reached.
 */
import {
  defaultInceptionPath,
  downloadInceptionWeights,
  isFile,
  missingWeightsMessage,
} from "./inception_weights.ts";

if (import.meta.main) {
  const dest = Deno.args[0] ?? defaultInceptionPath();
  if (isFile(dest)) {
    console.log(`already present: ${dest}`);
  } else if (!(await downloadInceptionWeights(dest, { log: console.log }))) {
    console.error(missingWeightsMessage([dest]));
    Deno.exit(1);
  }
}
