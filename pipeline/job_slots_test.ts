import { assertEquals } from "../tests/assert.ts";
import { JobSlots } from "./job_slots.ts";

const tick = () => new Promise((r) => setTimeout(r, 0));

Deno.test("job slots: at most `size` holders, and one holder per exclusive tag", async () => {
  const slots = new JobSlots(2);
  const order: string[] = [];
  const take = (name: string, tag?: string) =>
    slots.acquire(tag).then((release) => (order.push(name), release));
  const a = await take("a", "gpu");
  const pb = take("b", "gpu"); // same tag as a: must wait although a slot is free
  const c = await take("c");
  await tick();
  assertEquals(order, ["a", "c"]);
  const pd = take("d"); // both slots taken: waits
  await tick();
  assertEquals(order, ["a", "c"]);
  c();
  await tick();
  assertEquals(order, ["a", "c", "d"]); // d took c's slot; b still waits for the tag
  a();
  await tick();
  (await pd)();
  assertEquals(order, ["a", "c", "d", "b"]);
  (await pb)();
});
