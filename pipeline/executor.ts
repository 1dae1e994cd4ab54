/**
 * Where a stage's computation happens once the driver has claimed its key: in the driver's own
 * process (local) or as a cluster job (see slurm.ts). Either way the result is a run record
 * written to the shared store; the driver keeps the DAG, the claims and the `out/` view.
 */
import type { Claim } from "./claim.ts";
import type { GraphNode } from "./graph.ts";
import type { Reporter } from "./reporter.ts";
import type { Resources } from "./resources.ts";
import type { KeyIngredients, RunRecord } from "./stage.ts";

export interface StageTask {
  node: GraphNode;
  key: string;
  ingredients: KeyIngredients;
  /** Records of the stages upstream of this one, by stage name. */
  upstream: Map<string, RunRecord>;
  /** The driver's claim on the key, held (and heartbeaten) until the record exists. */
  claim: Claim;
  resources: Resources;
  reporter: Reporter;
  /** CLI flags that rebuild this graph in another process (pipeline, store, --set, globals). */
  jobArgs: string[];
}

/** Computes a stage in the driver's process. */
export type ProduceFn = (task: StageTask) => Promise<RunRecord>;

export interface Executor {
  readonly name: string;
  /** Stages run on this machine, so those sharing an exclusive resource tag must not overlap. */
  readonly local: boolean;
  /** Computes the stage, writes its record to the store and returns it. */
  run(task: StageTask, produce: ProduceFn): Promise<RunRecord>;
  /** Stops anything still in flight (cancelled jobs, pollers). */
  close(): Promise<void>;
}

export const localExecutor: Executor = {
  name: "local",
  local: true,
  run: (task, produce) => produce(task),
  close: () => Promise.resolve(),
};
