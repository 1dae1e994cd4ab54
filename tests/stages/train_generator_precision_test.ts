/**
 * train-generator's `precision`: part of the stage's key (explain shows two keys), and the run
 * records what actually ran: bf16 on onednn where the CPU has it, else fp32 with a note (the cpu
 * backend never has it).
 */
import { assert, assertEquals, assertNotEquals } from "../assert.ts";
import type { RunRecord } from "../../pipeline/stage.ts";
import { hasOneDnn } from "../../backend/onednn/test_gate.ts";
import { loadOneDnn } from "../../backend/onednn/ffi.ts";
import { bf16Unavailable } from "../../backend/precision.ts";
import { cpuFlags } from "../../backend/cpu_features.ts";
import { runCli, tinyPixelRun } from "./cli.ts";

const TINY = tinyPixelRun();

async function main(...args: string[]): Promise<string> {
  const out = await runCli(...args);
  assertEquals(out.ok, true, out.text.slice(-3000));
  return out.text;
}

async function record(store: string): Promise<RunRecord> {
  const { key } = JSON.parse(await Deno.readTextFile(`${store}/heads/train-generator.json`));
  return JSON.parse(await Deno.readTextFile(`${store}/runs/${key}.json`));
}

const bf16Here = hasOneDnn && bf16Unavailable({
      backend: "onednn",
      cpuFlags: cpuFlags(),
      oneDnnIsa: loadOneDnn()!.lib.dnnl_get_effective_cpu_isa(),
    }) === null;

Deno.test({
  name: "train-generator: precision is in the key, and the run records the precision that ran",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const store = await Deno.makeTempDir({ prefix: "ganflow-precision-" });
    try {
      await main("run", "prepare", "--store", store, ...TINY);
      const explain = async (precision: string) => {
        const text = await main(
          "explain",
          "train-generator",
          "--store",
          store,
          ...TINY,
          ...["--set", `train-generator.precision=${precision}`],
        );
        assert(text.includes(`"precision":"${precision}"`), text);
        return text.match(/^key\s+(\S+)$/m)![1];
      };
      assertNotEquals(await explain("fp32"), await explain("bf16"));

      // The cpu backend has no bf16: one note, fp32 recorded.
      const bf16 = ["--set", "train-generator.precision=bf16"];
      const onCpu = await main(
        "run",
        "train-generator",
        "--store",
        store,
        "--backend",
        "cpu",
        ...TINY,
        ...bf16,
      );
      assertEquals(onCpu.match(/bf16 requested/g)?.length, 1, onCpu);
      assertEquals((await record(store)).metrics.precision, "fp32");
      if (hasOneDnn) {
        const text = await main(
          "run",
          "train-generator",
          "--store",
          store,
          "--backend",
          "onednn",
          ...TINY,
          ...bf16,
        );
        assertEquals((await record(store)).metrics.precision, bf16Here ? "bf16" : "fp32");
        assertEquals(text.includes("bf16 requested"), !bf16Here, text);
      }
    } finally {
      await Deno.remove(store, { recursive: true });
    }
  },
});
