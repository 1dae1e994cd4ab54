/** `deno task pipeline`: the CLI over the default pipeline (dag.ts). */
import { runCli } from "./pipeline/cli.ts";

if (import.meta.main) {
  Deno.exit(
    await runCli(Deno.args, {
      defaultPipeline: new URL("./dag.ts", import.meta.url),
    }),
  );
}
