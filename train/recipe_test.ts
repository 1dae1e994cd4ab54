import { assertEquals } from "../tests/assert.ts";
import { adamFor, ganRecipe } from "./recipe.ts";

Deno.test("the recipe: ProGAN's Adam and WGAN-GP for progan, R1 and logistic otherwise", () => {
  // Karras et al. 2017, appendix A.1: Adam lr 0.001, beta1 0, beta2 0.99; WGAN-GP with lambda
  // 10 and drift epsilon 0.001. Otherwise lr 1e-3, beta1 0 and lazy R1 (gamma 1 every 4th
  // step), which beat DCGAN's 2e-4 and 0.5 in docs/quality.md's ablation.
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
    options: {
      lr: 1e-3,
      beta1: 0,
      beta2: 0.99,
      loss: "logistic",
      reg: undefined,
      r1: { gamma: 1, every: 4 },
    },
  });
  assertEquals(adamFor(), { lr: 1e-3, beta1: 0, beta2: 0.99, eps: 1e-8 });
  // WGAN's critic gets no R1 by default; asked for, any loss gets it.
  assertEquals(ganRecipe({ loss: "wgan" }).options.r1, undefined);
  assertEquals(ganRecipe({ loss: "hinge" }).options.r1, { gamma: 1, every: 4 });
  assertEquals(ganRecipe({ loss: "wgan", r1Gamma: 1, r1Every: 2 }).options.r1, {
    gamma: 1,
    every: 2,
  });
  assertEquals(ganRecipe({ r1Gamma: 0 }).options.r1, undefined);
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
  // (ProGAN's recipe has no R1, whatever the loss, unless asked.)
  const gp = ganRecipe({ loss: "wgan-gp", gp: { gpLambda: 1, drift: 0 }, beta2: 0.9 });
  assertEquals(gp.options, {
    lr: 1e-3,
    beta1: 0,
    beta2: 0.9,
    loss: "wgan",
    reg: { gpLambda: 1, drift: 0 },
  });
});
