"""Peers for `deno task bench metrics`: the same computations in numpy (SWD) and torch (Inception).

  metrics_peer.py swd --size 64 --count 64 --reps 2
      ProGAN's sliced Wasserstein distance as metrics/swd.ts computes it (Laplacian pyramid down to
      16x16 with the 5x5 binomial filter and mirror borders, 128 7x7 patches per image and level,
      per-channel normalisation, 4 x 128 random directions), vectorised numpy (no scipy needed:
      numpy's 'reflect' pad is scipy.ndimage's 'mirror').
  metrics_peer.py inception --size 64 --count 32 --batch 16 --weights FILE [--threads N]
      pytorch-fid's FID Inception (tests/fixtures/inception/fid_inception_torch.py) on the file's
      state_dict (torch.save, optionally gzip-compressed), float32, no grad.
Prints one JSON line: {"images_per_s": ..., "seconds": ...} (images of one set per second; SWD
also gives its "swd_average", which differs from ours only through the random draws).
"""
import argparse, gzip, io, json, os, sys, time
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
K1 = np.float32([1, 4, 6, 4, 1]) / 16


def blur(x, scale=1.0):  # x: N C H W float64; separable 5x5 binomial, mirror borders
    p = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)), mode="reflect")
    h = sum(K1[k] * p[:, :, :, k:k + x.shape[3]] for k in range(5))
    v = sum(K1[k] * h[:, :, k:k + x.shape[2], :] for k in range(5))
    return v * scale


def pyramid(x, levels):
    pyr = [x]
    for _ in range(1, levels):
        down = blur(pyr[-1])[:, :, ::2, ::2]
        up = np.zeros_like(pyr[-1])
        up[:, :, ::2, ::2] = down
        pyr[-1] = pyr[-1] - blur(up, 4.0)
        pyr.append(down)
    return pyr


def descriptors(level, rng, per=128, nh=7):
    n, c, h, w = level.shape
    idx = np.repeat(np.arange(n), per)
    ys = rng.randint(3, h - 3, size=n * per)
    xs = rng.randint(3, w - 3, size=n * per)
    dy, dx = np.mgrid[-3:4, -3:4]
    patches = level[idx[:, None, None], :, (ys[:, None, None] + dy), (xs[:, None, None] + dx)]
    d = patches.transpose(0, 3, 1, 2)  # N*per, C, 7, 7
    d = d - d.mean(axis=(0, 2, 3), keepdims=True)
    d = d / d.std(axis=(0, 2, 3), keepdims=True)
    return d.reshape(d.shape[0], -1)


def swd(a, b, seed=0):
    rng = np.random.RandomState(seed)
    size = a.shape[2]
    levels = []
    r = size
    while r >= 16:
        levels.append(r)
        r //= 2
    pa, pb = pyramid(a, len(levels)), pyramid(b, len(levels))
    out = []
    for li in range(len(levels)):
        da, db = descriptors(pa[li], rng), descriptors(pb[li], rng)
        vals = []
        for _ in range(4):
            dirs = rng.randn(da.shape[1], 128)
            dirs /= np.sqrt((dirs ** 2).sum(0, keepdims=True))
            vals.append(np.mean(np.abs(np.sort(da @ dirs, 0) - np.sort(db @ dirs, 0))))
        out.append(np.mean(vals) * 1e3)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("task", choices=["swd", "inception"])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--count", type=int, default=32)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--weights", default="")
    args = ap.parse_args()
    rng = np.random.RandomState(1)
    if args.task == "swd":
        a = rng.randint(0, 256, (args.count, 3, args.size, args.size)).astype(np.float64)
        b = rng.randint(0, 256, (args.count, 3, args.size, args.size)).astype(np.float64)
        swd(a[:4], b[:4])  # warm-up
        t = time.perf_counter()
        for _ in range(args.reps):
            value = swd(a, b)
        sec = (time.perf_counter() - t) / args.reps
        print(json.dumps({"images_per_s": args.count / sec, "seconds": sec,
                          "swd_average": float(np.mean(value))}))
        return
    else:
        import torch
        sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "fixtures", "inception"))
        from fid_inception_torch import FIDInception
        if args.threads:
            torch.set_num_threads(args.threads)
        raw = open(args.weights, "rb").read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        model = FIDInception().eval()
        model.load_state_dict(torch.load(io.BytesIO(raw)), strict=False)
        x = torch.from_numpy(rng.rand(args.count, 3, args.size, args.size).astype(np.float32))
        with torch.no_grad():
            model(x[:args.batch])  # warm-up with a whole batch, as ours does
            t = time.perf_counter()
            for _ in range(args.reps):
                for i in range(0, args.count, args.batch):
                    model(x[i:i + args.batch])
            sec = (time.perf_counter() - t) / args.reps
    print(json.dumps({"images_per_s": args.count / sec, "seconds": sec}))


if __name__ == "__main__":
    main()
