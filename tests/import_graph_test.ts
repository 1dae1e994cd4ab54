/**
 * The module graph has no cycles, and follows CONTRIBUTING's layout table: every relative import
 * of every TypeScript file in the repository (static `import`/`export ... from` and `import("...")`
 * with a literal path) is followed; a cycle fails with the chain of files that forms it, an
 * import the table does not allow with the importing and imported files.
 */
import { dirname, join, normalize, relative } from "node:path";
import { assertEquals } from "./assert.ts";

const ROOT = normalize(join(dirname(new URL(import.meta.url).pathname), ".."));
const SKIP = new Set([".git", ".ganflow", "node_modules", "out", "fixtures", ".scratch"]);

/** Every .ts file under `dir`, relative to the repository root. */
function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    if (SKIP.has(e.name)) continue;
    const path = join(dir, e.name);
    if (e.isDirectory) out.push(...tsFiles(path));
    else if (e.isFile && e.name.endsWith(".ts")) out.push(relative(ROOT, path));
  }
  return out;
}

const IMPORT =
  /(?:import|export)\s[^;]*?from\s*"(\.{1,2}\/[^"]+)"|import\(\s*"(\.{1,2}\/[^"]+)"\s*\)/g;

/** The repository-relative files a module imports by relative path. */
export function relativeImports(file: string, source: string): string[] {
  const deps: string[] = [];
  for (const m of source.matchAll(IMPORT)) {
    deps.push(normalize(join(dirname(file), m[1] ?? m[2])));
  }
  return deps;
}

/** One cycle per strongly connected set of modules, as the chain of files around it. */
export function findCycles(graph: Map<string, string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (node: string) => {
    state.set(node, "open");
    stack.push(node);
    for (const dep of graph.get(node) ?? []) {
      const s = state.get(dep);
      if (s === "open") cycles.push([...stack.slice(stack.indexOf(dep)), dep]);
      else if (s === undefined) visit(dep);
    }
    stack.pop();
    state.set(node, "done");
  };
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node);
  return cycles;
}

Deno.test("findCycles finds a three-module cycle and nothing in a tree", () => {
  const cyclic = new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]], ["d", ["a"]]]);
  assertEquals(findCycles(cyclic), [["a", "b", "c", "a"]]);
  const tree = new Map([["a", ["b", "c"]], ["b", ["c"]], ["c", []]]);
  assertEquals(findCycles(tree), []);
});

Deno.test("relativeImports reads static, re-export and dynamic imports", () => {
  const src = 'import { x } from "./a.ts";\nexport { y } from "../b/c.ts";\n' +
    'import type {\n  Z,\n} from "./d.ts";\nconst m = await import("./e.ts");\nimport "npm:zod";';
  assertEquals(relativeImports("p/q.ts", src), ["p/a.ts", "b/c.ts", "p/d.ts", "p/e.ts"]);
});

Deno.test("the repository's module graph has no import cycles", () => {
  const graph = new Map<string, string[]>();
  for (const file of tsFiles(ROOT)) {
    graph.set(file, relativeImports(file, Deno.readTextFileSync(join(ROOT, file))));
  }
  assertEquals(findCycles(graph).map((c) => c.join(" -> ")), []);
});

/**
 * What each folder's modules (tests aside) may import besides their own folder and npm packages:
 * CONTRIBUTING's "may import" column. `backend/` below means its public part: the root modules,
 * `ops/` and `inference/`; `stages/`, `bench/` and the entry files may import anything.
 */
const MAY_IMPORT: Record<string, string[]> = {
  "pipeline/": [],
  "nn/": [],
  "report/": [],
  "data/": ["nn/"],
  "metrics/": ["nn/", "backend/"],
  "models/": ["nn/", "backend/"],
  "train/": ["models/", "nn/", "data/batch_source.ts", "backend/"],
  "backend/": ["nn/"],
};

/** A backend module other folders may use (its internals: onednn/, webgpu/, patches/). */
const publicBackend = (path: string) =>
  /^backend\/[a-z_]+\.ts$/.test(path) || /^backend\/(ops|inference)\//.test(path);

export function layoutViolations(graph: Map<string, string[]>): string[] {
  const out: string[] = [];
  for (const [file, deps] of graph) {
    if (file.endsWith("_test.ts")) continue;
    const folder = Object.keys(MAY_IMPORT).find((f) => file.startsWith(f));
    if (!folder) continue;
    for (const dep of deps) {
      if (dep.startsWith(folder)) continue;
      const ok = MAY_IMPORT[folder].some((allowed) =>
        allowed === "backend/" ? publicBackend(dep) : dep.startsWith(allowed)
      );
      if (!ok) out.push(`${file} imports ${dep}`);
    }
  }
  return out;
}

Deno.test("layoutViolations names a file importing beyond its folder's row", () => {
  const graph = new Map([
    ["data/prepare.ts", ["pipeline/hash.ts", "nn/rng.ts", "data/sources.ts"]],
    ["models/lean_conv.ts", ["backend/onednn/leaky_relu_kernels.ts", "backend/ops/pixel_norm.ts"]],
    ["data/prepare_test.ts", ["pipeline/hash.ts"]],
  ]);
  assertEquals(layoutViolations(graph), [
    "data/prepare.ts imports pipeline/hash.ts",
    "models/lean_conv.ts imports backend/onednn/leaky_relu_kernels.ts",
  ]);
});

Deno.test("every module imports only what CONTRIBUTING's layout table allows", () => {
  const graph = new Map<string, string[]>();
  for (const file of tsFiles(ROOT)) {
    graph.set(file, relativeImports(file, Deno.readTextFileSync(join(ROOT, file))));
  }
  assertEquals(layoutViolations(graph), []);
});
