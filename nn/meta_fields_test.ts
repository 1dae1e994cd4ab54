import { assertEquals, assertThrows } from "../tests/assert.ts";
import { MetaFields } from "./meta_fields.ts";

Deno.test("MetaFields reads typed fields and names the file and field it refuses", () => {
  const m = MetaFields.of(
    { n: 2, x: 0.5, ok: true, kind: "b", xs: [1, 2, 3], ls: [[1], []], sub: { k: 7 } },
    "model.gft",
  );
  assertEquals(m.int("n"), 2);
  assertEquals(m.number("x"), 0.5);
  assertEquals(m.boolean("ok"), true);
  assertEquals(m.optionalBoolean("missing"), undefined);
  assertEquals(m.choice("kind", ["a", "b"]), "b");
  assertEquals(m.numbers("xs", 3), [1, 2, 3]);
  assertEquals(m.numberLists("ls"), [[1], []]);
  assertEquals(m.object("sub").int("k"), 7);
  assertThrows(() => m.numberLists("xs"), "an array of arrays of numbers");
  assertEquals(m.has("sub"), true);
  assertEquals(m.has("missing"), false);
  assertThrows(() => m.int("x"), 'model.gft: metadata field "x" should be an integer, got 0.5');
  assertThrows(() => m.choice("kind", ["a", "c"]), "should be one of a, c");
  assertThrows(() => m.numbers("xs", 2), "an array of 2 numbers");
  assertThrows(() => m.object("sub").int("j"), 'model.gft sub: metadata field "j"');
  assertThrows(() => m.number("missing"), "got nothing");
  assertThrows(() => MetaFields.of([1], "f"), "f: expected an object");
});
