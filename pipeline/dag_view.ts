/** Text and Mermaid renderings of a DAG. */
import type { Graph } from "./graph.ts";

export function textTree(graph: Graph): string {
  const lines: string[] = [];
  for (const name of graph.order) {
    const node = graph.nodes.get(name)!;
    const ins = Object.entries(node.inputs).map(([k, i]) =>
      i.kind === "stage" ? `${k} <- ${i.stage}.${i.output}` : `${k} <- ${i.path}`
    );
    const tag = node.def.resources?.exclusive ? ` [${node.def.resources.exclusive}]` : "";
    lines.push(`${name}${tag}`);
    for (const i of ins) lines.push(`  ${i}`);
    lines.push(`  -> ${Object.keys(node.def.outputs).join(", ")}`);
  }
  return lines.join("\n");
}

export function mermaid(graph: Graph): string {
  const id = (s: string) => s.replace(/[^a-zA-Z0-9_]/g, "_");
  const lines = ["flowchart TD"];
  for (const name of graph.order) lines.push(`  ${id(name)}["${name}"]`);
  for (const name of graph.order) {
    for (const [k, i] of Object.entries(graph.nodes.get(name)!.inputs)) {
      if (i.kind === "stage") lines.push(`  ${id(i.stage)} -->|${i.output}| ${id(name)}`);
      else lines.push(`  ext_${id(k)}_${id(name)}[("${i.path.split("/").pop()}")] --> ${id(name)}`);
    }
  }
  return lines.join("\n");
}
