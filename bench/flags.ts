/** `--name=value` flags of `deno task bench` (bench/main.ts hands each bench the flags it got). */

/** The value of `--name=...`, or undefined. */
export function flag(args: string[], name: string): string | undefined {
  return args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

export function stringFlag(args: string[], name: string, fallback: string): string {
  return flag(args, name) ?? fallback;
}

export function numberFlag(args: string[], name: string, fallback: number): number {
  const v = flag(args, name);
  return v === undefined ? fallback : Number(v);
}
