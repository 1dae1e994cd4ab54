/**
 * Typed reads of a tensor file's free-form metadata (nn/tensor_file.ts `meta`): each read checks
 * the field's type and fails naming the file and the field, so a model file from another version
 * or another stage is refused with a clear message instead of being misread.
 */
export class MetaFields {
  constructor(
    private readonly meta: Record<string, unknown>,
    /** The file (and enclosing fields) the values come from, for error messages. */
    private readonly where: string,
  ) {}

  static of(value: unknown, where: string): MetaFields {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new Error(`${where}: expected an object of metadata, got ${JSON.stringify(value)}`);
    }
    return new MetaFields(value as Record<string, unknown>, where);
  }

  private fail(key: string, want: string): never {
    const got = this.meta[key] === undefined ? "nothing" : JSON.stringify(this.meta[key]);
    throw new Error(`${this.where}: metadata field "${key}" should be ${want}, got ${got}`);
  }

  has(key: string): boolean {
    return this.meta[key] !== undefined && this.meta[key] !== null;
  }

  number(key: string): number {
    const v = this.meta[key];
    return typeof v === "number" && Number.isFinite(v) ? v : this.fail(key, "a number");
  }

  int(key: string): number {
    const v = this.meta[key];
    return typeof v === "number" && Number.isInteger(v) ? v : this.fail(key, "an integer");
  }

  optionalInt(key: string): number | undefined {
    return this.meta[key] === undefined ? undefined : this.int(key);
  }

  boolean(key: string): boolean {
    const v = this.meta[key];
    return typeof v === "boolean" ? v : this.fail(key, "true or false");
  }

  optionalBoolean(key: string): boolean | undefined {
    return this.meta[key] === undefined ? undefined : this.boolean(key);
  }

  choice<T extends string>(key: string, choices: readonly T[]): T {
    const v = this.meta[key];
    return choices.includes(v as T) ? v as T : this.fail(key, `one of ${choices.join(", ")}`);
  }

  optionalChoice<T extends string>(key: string, choices: readonly T[]): T | undefined {
    return this.meta[key] === undefined ? undefined : this.choice(key, choices);
  }

  numbers(key: string, length?: number): number[] {
    const v = this.meta[key];
    const ok = Array.isArray(v) && v.every((x) => typeof x === "number" && Number.isFinite(x)) &&
      (length === undefined || v.length === length);
    return ok ? [...v] : this.fail(key, `an array of ${length ?? "any number of"} numbers`);
  }

  numberLists(key: string): number[][] {
    const v = this.meta[key];
    const ok = Array.isArray(v) &&
      v.every((xs) => Array.isArray(xs) && xs.every((x) => typeof x === "number"));
    return ok ? v.map((xs: number[]) => [...xs]) : this.fail(key, "an array of arrays of numbers");
  }

  /** A nested object of metadata. */
  object(key: string): MetaFields {
    if (!this.has(key)) this.fail(key, "an object");
    return MetaFields.of(this.meta[key], `${this.where} ${key}`);
  }
}
