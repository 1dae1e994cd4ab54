/**
 * Whether tests can run on a real WebGPU implementation here (Mesa's lavapipe counts), and if
 * not, why: the WebGPU tests are then ignored, with that reason printed once.
 */
import { defaultLoader } from "../loader.ts";

const adapter = await defaultLoader.requestAdapter();

/** Null when an adapter is there; else the reason the WebGPU tests are ignored. */
export const noWebGpu: string | null = adapter ? null : "no WebGPU adapter found (on Debian: " +
  "apt-get install mesa-vulkan-drivers, which gives Deno's WebGPU the lavapipe adapter)";

/** The adapter's name, for messages. */
export const adapterName = adapter
  ? `${adapter.info?.vendor ?? ""} ${adapter.info?.description ?? ""}`.trim()
  : "none";

/** Prints why `what` (a test module's WebGPU tests) is ignored, where it is. */
export function sayIfIgnored(what: string): void {
  if (noWebGpu) console.log(`note: ${what} ignored: ${noWebGpu}`);
}
