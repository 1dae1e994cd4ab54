/** A worker of RowSorters (sorted_rows.ts): sorts its rows of the shared projections. */
import { rowDistances, type RowTask } from "./sorted_rows.ts";

/** This module runs as a worker: `self` is its scope (the project's types describe a window). */
const scope = self as unknown as {
  onmessage: ((e: MessageEvent<RowTask>) => void) | null;
  postMessage(message: string): void;
};

scope.onmessage = (e) => {
  const t = e.data;
  try {
    rowDistances(
      new Float32Array(t.a),
      t.bs.map((b) => new Float32Array(b)),
      t.n,
      t.j0,
      t.j1,
      new Float64Array(t.out),
    );
    scope.postMessage("done");
  } catch (err) {
    scope.postMessage((err as Error).stack ?? String(err));
  }
};
