import { assertEquals, assertRejects } from "../tests/assert.ts";
import { encodeTensorFile } from "../nn/tensor_file.ts";
import { readAutoencoderFile, writeAutoencoderFile } from "./autoencoder_file.ts";
import { readDecoderFile, writeDecoderFile } from "./decoder_file.ts";

const arrays = { "dec.out.b": { shape: [3], data: new Float32Array([1, 2, 3]) } };

Deno.test("autoencoder and decoder files read back what was written", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ae = {
      arrays,
      config: { factor: 4, latentChannels: 8, width: 16 },
      imageSize: 32,
      codeShape: [8, 8, 8] as [number, number, number],
      condition: { kind: "sobel" as const, threshold: 1, channels: 1 },
    };
    await writeAutoencoderFile(`${dir}/ae.gft`, ae);
    assertEquals(await readAutoencoderFile(`${dir}/ae.gft`), ae);
    const slim = { latentChannels: 8, imageChannels: 3, levels: 2, channels: [4, 2, 2, 1, 1] };
    const dec = {
      arrays,
      config: slim,
      teacherConfig: slim,
      autoencoderConfig: ae.config,
      imageSize: 32,
      codeShape: ae.codeShape,
      source: "conditional" as const,
      keep: [[0, 3], [1]],
    };
    await writeDecoderFile(`${dir}/dec.gft`, dec);
    assertEquals(await readDecoderFile(`${dir}/dec.gft`), dec);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an autoencoder file without its code shape is refused by name", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/ae.gft`;
    await Deno.writeFile(
      path,
      encodeTensorFile({
        arrays,
        meta: { config: { factor: 4, latentChannels: 8, width: 16 }, imageSize: 32 },
      }),
    );
    await assertRejects(
      () => readAutoencoderFile(path),
      `${path}: metadata field "codeShape" should be an array of 3 numbers, got nothing`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
