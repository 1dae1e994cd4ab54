import { assertEquals } from "../tests/assert.ts";
import { adamFor, ganRecipe } from "./recipe.ts";

Deno.test("the recipe: ProGAN's Adam and WGAN-GP for progan, DCGAN's Adam and logistic otherwise", () => {
  // Karras et al. 2017, appendix A.1: Adam lr 0.001, beta1 0, beta2 0.99; WGAN-GP with lambda
  // 10 and drift epsilon 0.001. Radford et al. 2015: lr 0.0002, beta1 0.5.
  assertEquals(ganRecipe({ arch: "progan" }), {
    lossName: "wgan-gp",
    options: {
      lr: 1e-3,
      beta1: 0,
      beta2: 0.99,
      loss: "wgan",
      reg: { gpLambda: 10, drift: 1e-3 },
    },
  });
  assertEquals(ganRecipe({ arch: "fastgan" }), {
    lossName: "logistic",
    options: { lr: 2e-4, beta1: 0.5, beta2: 0.99, loss: "logistic", reg: undefined },
  });
  assertEquals(adamFor(), { lr: 2e-4, beta1: 0.5, beta2: 0.99, eps: 1e-8 });
});

Deno.test("the recipe's choices are overridable one by one", () => {
  const r = ganRecipe({
    arch: "progan",
    loss: "hinge",
    lr: 5e-4,
    gp: { gpLambda: 1, drift: 0 },
  });
  assertEquals(r, {
    lossName: "hinge",
    options: { lr: 5e-4, beta1: 0, beta2: 0.99, loss: "hinge", reg: undefined },
  });
  const gp = ganRecipe({ loss: "wgan-gp", gp: { gpLambda: 1, drift: 0 }, beta2: 0.9 });
  assertEquals(gp.options, {
    lr: 2e-4,
    beta1: 0.5,
    beta2: 0.9,
    loss: "wgan",
    reg: { gpLambda: 1, drift: 0 },
  });
});
