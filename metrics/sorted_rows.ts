/**
 * The sorting half of SWD: for projections stored one direction per row ([count, n] each), the
 * mean |sort(a_j) - sort(b_j)| of every direction j and every b. Sorting is nearly all of SWD's
 * time and each direction is independent, so the rows are split between workers (one per core);
 * each direction's value is written to its own slot and the caller sums them in order, so the
 * result is the same bits whatever the number of workers.
 */
import { RadixSorter } from "./radix_sort.ts";

/**
 * Writes mean |sort(a_j) - sort(bs[k]_j)| into out[k * count + j] for rows j0..j1-1. Runs in a
 * worker (sort_worker.ts) or, with one core, here.
 */
export function rowDistances(
  a: Float32Array,
  bs: Float32Array[],
  n: number,
  j0: number,
  j1: number,
  out: Float64Array,
): void {
  const count = a.length / n;
  const sorter = new RadixSorter();
  const x = new Float32Array(n), y = new Float32Array(n);
  for (let j = j0; j < j1; j++) {
    sorter.sort(a.subarray(j * n, (j + 1) * n), x);
    bs.forEach((b, k) => {
      sorter.sort(b.subarray(j * n, (j + 1) * n), y);
      let s = 0;
      for (let i = 0; i < n; i++) s += Math.abs(x[i] - y[i]);
      out[k * count + j] = s / n;
    });
  }
}

/** The message a sort worker takes: shared buffers and its rows. */
export interface RowTask {
  a: SharedArrayBuffer;
  bs: SharedArrayBuffer[];
  out: SharedArrayBuffer;
  n: number;
  j0: number;
  j1: number;
}

/**
 * Workers that sort rows, for the length of one SWD computation (`close` ends them), and the
 * shared buffers they read: kept from call to call, as a fresh 64 MB buffer costs ~180 ms of
 * page faults to fill here against ~5 ms for one already touched.
 */
export class RowSorters {
  #workers: Worker[] = [];
  #buffers: Float32Array[] = [];

  constructor(readonly size = navigator.hardwareConcurrency) {}

  /** Per b, the mean over directions of the sorted rows' mean absolute difference. */
  async meanDistances(a: Float32Array, bs: Float32Array[], n: number): Promise<number[]> {
    const count = a.length / n;
    const perDirection = new Float64Array(new SharedArrayBuffer(8 * count * bs.length));
    const parts = Math.min(this.size, count);
    if (parts <= 1) {
      rowDistances(a, bs, n, 0, count, perDirection);
    } else {
      const [sa, ...sbs] = [a, ...bs].map((v, i) => this.#share(v, i));
      while (this.#workers.length < parts) {
        this.#workers.push(
          new Worker(new URL("./sort_worker.ts", import.meta.url), { type: "module" }),
        );
      }
      await Promise.all(
        this.#workers.slice(0, parts).map((w, i) => {
          const task: RowTask = {
            a: sa,
            bs: sbs,
            out: perDirection.buffer as SharedArrayBuffer,
            n,
            j0: Math.floor((i * count) / parts),
            j1: Math.floor(((i + 1) * count) / parts),
          };
          return new Promise<void>((resolve, reject) => {
            w.onmessage = (e) => e.data === "done" ? resolve() : reject(new Error(String(e.data)));
            w.onerror = (e) => {
              e.preventDefault();
              reject(new Error(`SWD sort worker: ${e.message}`));
            };
            w.postMessage(task);
          });
        }),
      );
    }
    // Summed in direction order: the same bits as one thread.
    return bs.map((_, k) => {
      let total = 0;
      for (let j = 0; j < count; j++) total += perDirection[k * count + j];
      return total / count;
    });
  }

  /** `v` copied into shared buffer `slot` (grown when too small). */
  #share(v: Float32Array, slot: number): SharedArrayBuffer {
    let buf = this.#buffers[slot];
    if (!buf || buf.length !== v.length) {
      buf = this.#buffers[slot] = new Float32Array(new SharedArrayBuffer(v.byteLength));
    }
    buf.set(v);
    return buf.buffer as SharedArrayBuffer;
  }

  close(): void {
    for (const w of this.#workers) w.terminate();
    this.#workers = [];
    this.#buffers = [];
  }
}
